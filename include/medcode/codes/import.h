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

}  // namespace medcode::codes
