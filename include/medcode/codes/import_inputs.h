// Which files an import reads: the paths given, or the files `fetch` recorded for the system and year.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "medcode/codes/code_system.h"
#include "medcode/codes/import.h"

namespace medcode::store {
class Database;
}

namespace medcode::codes {

// options.paths when given (year_out stays 0); otherwise the recorded files for (system, options.year), or
// for the newest recorded year (year_out set to the year used). Error(bad_input) when nothing is recorded.
std::vector<std::filesystem::path> resolve_import_paths(store::Database& db, System system,
                                                        const ImportOptions& options, int& year_out);

// [{role, path, sha256}] for the release's `sources` column; sha256 of each file's bytes.
nlohmann::json describe_sources(const std::vector<std::pair<std::string, std::filesystem::path>>& sources);

}  // namespace medcode::codes
