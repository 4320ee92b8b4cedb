// `medcode import mimic-iv|mimic-iii DIR`: streams the CSV tables of a MIMIC release folder into typed store
// tables. Each table is loaded into a staging table and swapped in whole, so a failure never leaves a
// half-imported table behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medcode/mimic/table_layout.h"
#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::mimic {

struct MimicImportOptions {
  Source source = Source::mimic_iv;
  std::filesystem::path dir;        // the release folder (MIMIC-IV: holding hosp/, icu/, note/)
  std::vector<std::string> tables;  // names to import; empty: every known table found in dir
  bool replace = false;             // re-import tables already in the store
  bool verify_checksums = true;     // check files against the folder's SHA256SUMS.txt when it has one
  bool lossy = false;               // invalid UTF-8 → U+FFFD, counted; else an error naming file, line, byte
  std::optional<std::int64_t> run_id;
  util::ProgressCallback progress;  // stage "<table> <rows> rows, <rate> rows/s", bytes read of the file
};

struct TableImport {
  std::string table;       // published name, e.g. "hosp/labevents"
  std::string store_name;  // mimic4_labevents
  std::filesystem::path path;
  std::string status;  // imported | skipped (already in the store)
  std::int64_t rows = 0;
  double seconds = 0;
  std::int64_t replaced_utf8 = 0;  // invalid UTF-8 sequences replaced (--lossy)
};

struct MimicImportSummary {
  Source source = Source::mimic_iv;
  std::vector<TableImport> tables;
  std::int64_t rows = 0;  // imported this run
  double seconds = 0;
};

// Error(usage) for an unknown table name; Error(bad_input) for a folder with none of the source's tables, a
// malformed file (naming file, line and column) or a duplicate key; Error(integrity) for a checksum mismatch.
MimicImportSummary import_mimic(store::Database& db, const MimicImportOptions& options);

// True when the store holds the table (imported by name, e.g. "mimic4_admissions").
bool has_table(store::Database& db, std::string_view store_name);

}  // namespace medcode::mimic
