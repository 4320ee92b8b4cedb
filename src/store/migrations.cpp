// Applies the embedded SQL migrations in order, each in one transaction with its user_version bump.
#include "medcode/store/migrations.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "medcode/store/database.h"

namespace medcode::store {

int latest_schema_version() { return migrations().empty() ? 0 : migrations().back().version; }

void migrate(Database& db) {
  int current = db.schema_version();
  for (const Migration& migration : migrations()) {
    if (migration.version <= current) continue;
    Transaction transaction(db);
    db.exec(migration.sql);
    db.exec(fmt::format("PRAGMA application_id = {}", 0x4D444344));
    db.exec(fmt::format("PRAGMA user_version = {}", migration.version));
    transaction.commit();
    spdlog::debug("store: applied migration {}", migration.name);
  }
}

}  // namespace medcode::store
