// Imports a MIMIC release folder: finds each known table's file (.csv or .csv.gz, in the module folder or
// flat), checks it against the release's SHA256SUMS.txt, and loads the tables the store does not have yet.
#include "medcode/mimic/import.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <map>

#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "medcode/util/text.h"
#include "table_import.h"

namespace medcode::mimic {

namespace fs = std::filesystem;

namespace {

// Where a release may keep a table: MIMIC-IV in its module folder (hosp/labevents.csv.gz) or flat
// (a MIMIC-IV-Note folder passed directly); MIMIC-III flat, in upper case as published or lower case.
std::vector<fs::path> candidate_paths(const fs::path& dir, const TableLayout& layout) {
  std::vector<std::string> stems;
  if (layout.source == Source::mimic_iv) {
    stems = {std::string(layout.module) + "/" + std::string(layout.name), std::string(layout.name)};
  } else {
    stems = {util::to_upper(layout.name), std::string(layout.name)};
  }
  std::vector<fs::path> paths;
  for (const auto& stem : stems) {
    paths.push_back(dir / (stem + ".csv.gz"));
    paths.push_back(dir / (stem + ".csv"));
  }
  return paths;
}

std::optional<fs::path> find_table_file(const fs::path& dir, const TableLayout& layout) {
  for (const auto& path : candidate_paths(dir, layout)) {
    std::error_code error;
    if (fs::is_regular_file(path, error)) return path;
  }
  return std::nullopt;
}

// SHA256SUMS.txt as PhysioNet publishes it: "<sha256> <relative path>" per line.
std::map<std::string, std::string> read_checksums(const fs::path& dir) {
  std::map<std::string, std::string> sums;
  std::ifstream in(dir / "SHA256SUMS.txt");
  std::string line;
  while (std::getline(in, line)) {
    auto words = util::split_whitespace(line);
    if (words.size() == 2 && words[0].size() == 64) sums[std::string(words[1])] = util::to_lower(words[0]);
  }
  return sums;
}

void verify_checksum(const std::map<std::string, std::string>& sums, const fs::path& dir,
                     const fs::path& path) {
  std::string relative = fs::relative(path, dir).generic_string();
  auto found = sums.find(relative);
  if (found == sums.end()) return;
  std::string actual = util::sha256_file_hex(path);
  if (actual != found->second) {
    fail(ExitCode::integrity, "{}: SHA-256 {} does not match {} in {}", path.string(), actual.substr(0, 16),
         found->second.substr(0, 16), (dir / "SHA256SUMS.txt").string());
  }
}

std::vector<const TableLayout*> requested_layouts(const MimicImportOptions& options) {
  std::vector<const TableLayout*> layouts;
  if (options.tables.empty()) {
    for (const auto& layout : table_layouts(options.source)) layouts.push_back(&layout);
    return layouts;
  }
  for (const auto& name : options.tables) {
    const TableLayout* layout = find_table_layout(options.source, name);
    if (layout == nullptr) {
      std::string known;
      for (const auto& candidate : table_layouts(options.source))
        known += (known.empty() ? "" : ", ") + std::string(candidate.name);
      fail(ExitCode::usage, "--tables: {} has no table '{}' (known: {})", source_name(options.source), name,
           known);
    }
    layouts.push_back(layout);
  }
  return layouts;
}

}  // namespace

bool has_table(store::Database& db, std::string_view store_name) {
  auto query = db.prepare("SELECT 1 FROM mimic_tables WHERE name = ?");
  query.bind(1, store_name);
  return query.step();
}

MimicImportSummary import_mimic(store::Database& db, const MimicImportOptions& options) {
  auto start = std::chrono::steady_clock::now();
  std::error_code error;
  if (!fs::is_directory(options.dir, error))
    fail(ExitCode::bad_input, "{}: not a folder (expected a {} release folder)", options.dir.string(),
         source_name(options.source));

  MimicImportSummary summary;
  summary.source = options.source;
  std::vector<std::pair<const TableLayout*, fs::path>> found;
  for (const TableLayout* layout : requested_layouts(options)) {
    if (auto path = find_table_file(options.dir, *layout)) {
      found.emplace_back(layout, *path);
    } else if (!options.tables.empty()) {
      fail(ExitCode::bad_input, "{}: no file for {} (looked for {})", options.dir.string(),
           published_name(*layout), candidate_paths(options.dir, *layout).front().filename().string());
    }
  }
  if (found.empty()) {
    fail(ExitCode::bad_input, "{}: holds none of the {} tables (looked for files such as {})",
         options.dir.string(), source_name(options.source),
         fs::relative(candidate_paths(options.dir, table_layouts(options.source)[1]).front(), options.dir)
             .string());
  }

  std::map<std::string, std::string> sums;
  if (options.verify_checksums) sums = read_checksums(options.dir);
  // A crashed earlier run may have left a staging table behind; import_table drops it before loading.
  TableImportContext context{options.run_id, options.progress, options.lossy};
  for (const auto& [layout, path] : found) {
    std::string store_name = store_table_name(*layout);
    if (!options.replace && has_table(db, store_name)) {
      spdlog::info("{}: already in the store as {}; skipped (--replace re-imports it)",
                   published_name(*layout), store_name);
      summary.tables.push_back({published_name(*layout), store_name, path, "skipped", 0, 0});
      continue;
    }
    if (!sums.empty()) verify_checksum(sums, options.dir, path);
    TableImport table = import_table(db, *layout, path, context);
    spdlog::info("{}: {} rows in {:.2f} s ({:.0f} rows/s)", table.table, table.rows, table.seconds,
                 table.seconds > 0 ? static_cast<double>(table.rows) / table.seconds : 0.0);
    summary.rows += table.rows;
    summary.tables.push_back(std::move(table));
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace medcode::mimic
