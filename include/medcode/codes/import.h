// Importing official code sets into the store: one function per system, one transaction each.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medcode/codes/code_system.h"
#include "medcode/util/progress.h"

namespace medcode::store {
class Database;
}

namespace medcode::codes {

struct ImportOptions {
  std::optional<int> year;                        // release year; else taken from the files where they say it
  std::vector<std::filesystem::path> paths;       // explicit inputs, recognised by content; empty → fetched files
  std::optional<std::int64_t> run_id;             // the runs row to link the release to
  util::ProgressCallback progress;
  // Official files bend their own layouts: an optional field that does not parse is kept empty with a
  // warning naming the record and column; strict makes it an error (required fields always are).
  bool strict = false;
  // Text that is not valid UTF-8 (after the encoding an XML file declares) is an error naming the file,
  // line and byte; lossy replaces each invalid sequence with U+FFFD and counts them (counter
  // "replaced_bytes").
  bool lossy = false;
};

struct ImportSummary {
  System system = System::icd10cm;
  int year = 0;
  std::int64_t release_id = 0;
  std::int64_t n_codes = 0;      // codes of the release (not modifiers, chapters or sections)
  std::int64_t n_billable = 0;
  nlohmann::json counters = nlohmann::json::object();  // further counts: notes, index terms, modifiers, ...
  std::vector<std::string> warnings;                   // e.g. differences found by the order-file cross-check
};

ImportSummary import_icd10cm(store::Database& db, const ImportOptions& options);
ImportSummary import_icd10pcs(store::Database& db, const ImportOptions& options);
ImportSummary import_hcpcs(store::Database& db, const ImportOptions& options);
// The AMA's CPT data files a user holds (see cpt_parser.h): paths are required (CPT is licensed and never
// fetched), a long-descriptor file among them. Year from options.year, else the files' or folder's name.
ImportSummary import_cpt(store::Database& db, const ImportOptions& options);

// CMS General Equivalence Mappings (see gem.h) into gem_mappings, all files in one transaction, one file per
// direction. Paths are required (GEMs are not fetched); each file's year is options.year, else the year in
// its name. Importing a (year, direction) again replaces its rows. No release is written (release_id 0),
// `system` keeps its default (a GEM spans two code sets) and `year` is the newest of the files; n_codes
// counts the entries stored; counters holds, per direction ("icd9cm_to_icd10cm", ...): year, file, entries,
// source_codes, mappings (entries with a target), no_map, approximate (mappings so flagged) and combination.
ImportSummary import_gem(store::Database& db, const ImportOptions& options);

}  // namespace medcode::codes
