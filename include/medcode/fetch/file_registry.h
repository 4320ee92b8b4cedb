// The store's record of fetched files: what `fetch` verified, and what `import` reads when given no paths.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace medcode::store {
class Database;
}

namespace medcode::fetch {

struct FetchedFile {
  std::string system;  // icd10cm | icd10pcs | hcpcs
  int year = 0;
  std::string role;    // tabular | index | order | codes | annual | ...
  std::string url;     // as published
  std::string member;  // the file inside the zip archive at `path`; empty for a plain or .gz file
  std::filesystem::path path;
  std::int64_t bytes = 0;
  std::string sha256;
  std::string origin;  // download | mirror
  bool pinned = false;
  std::string fetched_at;
};

// Inserts or replaces the row for (system, year, role).
void record_fetched_file(store::Database& db, const FetchedFile& file, std::optional<std::int64_t> run_id);

std::optional<FetchedFile> find_fetched_file(store::Database& db, const std::string& system, int year,
                                             const std::string& role);
std::vector<FetchedFile> fetched_files(store::Database& db, const std::string& system, int year);
// Every recorded file, ordered by system, year and role.
std::vector<FetchedFile> all_fetched_files(store::Database& db);

// Deletes the rows of every role recorded at `path` (a file that failed verification and was moved away).
void forget_fetched_files_at(store::Database& db, const std::filesystem::path& path);

}  // namespace medcode::fetch
