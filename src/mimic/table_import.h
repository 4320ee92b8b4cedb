// Loading one MIMIC CSV file into its typed store table (internal to the importer).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "medcode/mimic/import.h"
#include "medcode/mimic/table_layout.h"
#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::mimic {

struct TableImportContext {
  std::optional<std::int64_t> run_id;
  util::ProgressCallback progress;
  bool lossy = false;  // invalid UTF-8 replaced with U+FFFD (counted) instead of an error
};

// Replaces the table of `layout` with the rows of `path`; on any error the store keeps what it had.
TableImport import_table(store::Database& db, const TableLayout& layout, const std::filesystem::path& path,
                         const TableImportContext& context);

}  // namespace medcode::mimic
