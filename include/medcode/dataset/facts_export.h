// `cohort export`: admission facts as the note → codes JSON Lines datasets that `tokenize`, `train` and
// `evaluate` read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "medcode/mimic/table_layout.h"
#include "medcode/store/database.h"

namespace medcode::dataset {

struct FactsExportOptions {
  std::optional<mimic::Source> source;
  std::filesystem::path out_dir;
};

struct FactsExportSummary {
  std::vector<std::pair<std::filesystem::path, std::int64_t>> files;  // path, lines
  std::int64_t examples = 0;
  std::int64_t without_note = 0;   // facts left out: no discharge note
  std::int64_t without_codes = 0;  // facts left out: no code of the release
};

// Writes the facts that have a note and at least one validated code as descriptions-to-codes.*.jsonl (all,
// train, val, test), the files and line format `medcode export` writes; all files or none.
FactsExportSummary export_facts(store::Database& db, const FactsExportOptions& options);

}  // namespace medcode::dataset
