// Forward-only schema migrations, kept as SQL files under src/store/migrations and embedded at build time.
#pragma once

#include <span>
#include <string_view>

namespace medcode::store {

class Database;

struct Migration {
  int version;           // the user_version after applying it
  std::string_view name;
  std::string_view sql;
};

std::span<const Migration> migrations();
int latest_schema_version();

// Applies every migration above the store's user_version, each in its own transaction.
void migrate(Database& db);

}  // namespace medcode::store
