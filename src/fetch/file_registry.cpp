// Rows of fetched_files, read and written with prepared statements.
#include "medcode/fetch/file_registry.h"

#include "medcode/store/database.h"

namespace medcode::fetch {

namespace {

constexpr const char* k_columns =
    "system, year, role, url, path, bytes, sha256, origin, pinned, fetched_at, member";

FetchedFile read_row(const store::Statement& row) {
  FetchedFile file;
  file.system = row.column_text(0);
  file.year = static_cast<int>(row.column_int64(1));
  file.role = row.column_text(2);
  file.url = row.column_text(3);
  file.path = row.column_text(4);
  file.bytes = row.column_int64(5);
  file.sha256 = row.column_text(6);
  file.origin = row.column_text(7);
  file.pinned = row.column_int64(8) != 0;
  file.fetched_at = row.column_text(9);
  file.member = row.column_text(10);
  return file;
}

std::vector<FetchedFile> read_all(store::Statement& query) {
  std::vector<FetchedFile> files;
  while (query.step()) files.push_back(read_row(query));
  return files;
}

}  // namespace

void record_fetched_file(store::Database& db, const FetchedFile& file, std::optional<std::int64_t> run_id) {
  store::Statement insert = db.prepare(
      "INSERT OR REPLACE INTO fetched_files (system, year, role, url, path, bytes, sha256, origin, pinned,"
      " fetched_at, run_id, member) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  std::optional<std::string> member;
  if (!file.member.empty()) member = file.member;
  insert.bind_all(file.system, file.year, file.role, file.url, file.path.string(), file.bytes, file.sha256,
                  file.origin, file.pinned ? 1 : 0, file.fetched_at, run_id, member);
  insert.run();
}

std::optional<FetchedFile> find_fetched_file(store::Database& db, const std::string& system, int year,
                                             const std::string& role) {
  store::Statement query = db.prepare(std::string("SELECT ") + k_columns +
                                      " FROM fetched_files WHERE system = ? AND year = ? AND role = ?");
  query.bind_all(system, year, role);
  if (!query.step()) return std::nullopt;
  return read_row(query);
}

std::vector<FetchedFile> fetched_files(store::Database& db, const std::string& system, int year) {
  store::Statement query = db.prepare(std::string("SELECT ") + k_columns +
                                      " FROM fetched_files WHERE system = ? AND year = ? ORDER BY role");
  query.bind_all(system, year);
  return read_all(query);
}

std::vector<FetchedFile> all_fetched_files(store::Database& db) {
  store::Statement query =
      db.prepare(std::string("SELECT ") + k_columns + " FROM fetched_files ORDER BY system, year, role");
  return read_all(query);
}

void forget_fetched_files_at(store::Database& db, const std::filesystem::path& path) {
  store::Statement remove = db.prepare("DELETE FROM fetched_files WHERE path = ?");
  remove.bind_all(path.string());
  remove.run();
}

}  // namespace medcode::fetch
