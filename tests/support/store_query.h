// One-value queries against a store file, for tests that check what a command wrote.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "medcode/store/database.h"

namespace medcode::testing {

// The first column of the first row as text ("" when there is no row or it is NULL).
inline std::string query_text(store::Database& db, const std::string& sql) {
  store::Statement statement = db.prepare(sql);
  return statement.step() && !statement.column_is_null(0) ? statement.column_text(0) : "";
}

inline std::string query_text(const std::filesystem::path& db_path, const std::string& sql) {
  store::Database db = store::Database::open(db_path, store::OpenMode::existing_only);
  return query_text(db, sql);
}

// The first column of the first row as an integer (-1 when there is no row).
inline std::int64_t query_int(store::Database& db, const std::string& sql) {
  store::Statement statement = db.prepare(sql);
  return statement.step() ? statement.column_int64(0) : -1;
}

inline double query_double(store::Database& db, const std::string& sql) {
  auto statement = db.prepare(sql);
  return statement.step() ? statement.column_double(0) : 0;
}

inline double query_double(const std::filesystem::path& db_path, const std::string& sql) {
  store::Database db = store::Database::open(db_path, store::OpenMode::existing_only);
  return query_double(db, sql);
}

inline std::int64_t query_int(const std::filesystem::path& db_path, const std::string& sql) {
  store::Database db = store::Database::open(db_path, store::OpenMode::existing_only);
  store::Statement statement = db.prepare(sql);
  return statement.step() ? statement.column_int64(0) : -1;
}

}  // namespace medcode::testing
