// Applies the embedded SQL migrations in order, each in one transaction with its user_version bump.
#include "medcode/store/migrations.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "medcode/store/database.h"
#include "medcode/util/error.h"

namespace medcode::store {

namespace {
constexpr std::string_view k_foreign_keys_off = "-- medcode: foreign keys off";
}  // namespace

int latest_schema_version() { return migrations().empty() ? 0 : migrations().back().version; }

void migrate(Database& db) {
  int current = db.schema_version();
  for (const Migration& migration : migrations()) {
    if (migration.version <= current) continue;
    // A migration that rebuilds a referenced table turns foreign keys off (which SQLite allows only outside
    // a transaction) and checks every reference before it commits.
    bool rebuilds = migration.sql.starts_with(k_foreign_keys_off);
    if (rebuilds) db.exec("PRAGMA foreign_keys = OFF");
    try {
      Transaction transaction(db);
      db.exec(migration.sql);
      if (rebuilds) {
        Statement check = db.prepare("PRAGMA foreign_key_check");
        if (check.step())
          throw Error(ExitCode::internal, fmt::format("migration {} would leave a dangling reference in {}",
                                                      migration.name, check.column_text(0)));
      }
      db.exec(fmt::format("PRAGMA application_id = {}", 0x4D444344));
      db.exec(fmt::format("PRAGMA user_version = {}", migration.version));
      transaction.commit();
    } catch (...) {
      if (rebuilds) db.exec("PRAGMA foreign_keys = ON");
      throw;
    }
    if (rebuilds) db.exec("PRAGMA foreign_keys = ON");
    spdlog::debug("store: applied migration {}", migration.name);
  }
}

}  // namespace medcode::store
