// Dataset export: the store's entries and scores as JSON Lines training files (description → code pairs,
// a golden subset with train/val/test splits by code, chat-format SFT and DPO preference pairs), and the
// facets of each code when the store has some.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/eval/dataset_files.h"
#include "medcode/store/database.h"

namespace medcode::dataset {

struct ExportOptions {
  std::filesystem::path out_dir;
  double min_quality = 0.7;          // an entry is golden when its quality is at least this (0..1)
  std::uint64_t seed = 42;           // picks the split of each code
  std::optional<std::string> task;   // only entries of this task
  std::optional<std::string> coder;  // the scores of this coder; default: the mean over every coder
};

// The names of the files an export writes, each in `out_dir` (shared with the readers of those files).
using eval::k_export_all_file;
using eval::k_export_dpo_file;
using eval::k_export_golden_file;
using eval::k_export_sft_file;
using eval::k_export_test_file;
using eval::k_export_train_file;
using eval::k_export_val_file;
// Written only when the store has facets entries (and --task allows them).
inline constexpr std::string_view k_export_facets_file = "facets.jsonl";

struct ExportedFile {
  std::filesystem::path path;
  std::int64_t lines = 0;
};

struct SplitCounts {
  std::int64_t train = 0;
  std::int64_t val = 0;
  std::int64_t test = 0;
};

struct ExportSummary {
  std::vector<ExportedFile> files;  // every file written, in the order of the k_export_*_file names
  std::int64_t entries = 0;         // lines of the .all file
  std::int64_t entries_unscored = 0;
  std::int64_t golden = 0;
  SplitCounts golden_splits;  // golden entries per split
  std::int64_t sft = 0;
  std::int64_t dpo_pairs = 0;
  std::int64_t dpo_skipped = 0;  // golden entries whose answers hold no wrong code of the release
  std::int64_t missing_descriptions =
      0;                    // entries whose code the release lacks: SFT answers give the code alone
  std::int64_t facets = 0;  // lines of facets.jsonl: codes (of a system) with facets
};

// "train", "val" or "test": 80/10/10 by the first 64 bits of SHA-256("<seed>:<code>") modulo 100. A hash of
// its own, not the FNV-1a of --shard, so that the codes of one shard still spread over every split.
std::string_view split_of_code(std::string_view code, std::uint64_t seed);

// The facets of a facets.jsonl line, after code, system, description and model: the fields the built-in
// facets prompt asks for, in its schema's order.
std::vector<std::string> facet_fields();

// Writes every file of the export into options.out_dir, or none: each goes to a temporary name and all are
// renamed into place only once all are written. Order in each file: by source code, then entry id.
// Error(bad_input) when there are no entries (of options.task), when options.coder scored nothing, or when
// out_dir cannot be created; Error(usage) for a min_quality outside 0..1.
ExportSummary export_dataset(store::Database& db, const ExportOptions& options);

}  // namespace medcode::dataset
