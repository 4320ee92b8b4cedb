// Which files an import reads: the paths given, or the files `fetch` recorded for the system and year.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "medcode/codes/code_system.h"
#include "medcode/codes/import.h"
#include "medcode/util/files.h"

namespace medcode::store {
class Database;
}

namespace medcode::codes {

// options.paths when given (year_out stays 0); otherwise the recorded files for (system, options.year), or
// for the newest recorded year (year_out set to the year used). Error(bad_input) when nothing is recorded.
std::vector<std::filesystem::path> resolve_import_paths(store::Database& db, System system,
                                                        const ImportOptions& options, int& year_out);

// An input recognised by content, with the file it was read from (the archive, for a zip member).
struct RecognisedInput {
  std::filesystem::path path;
  util::Input input;
};

// Reads each path (a plain or .gz file, or the .txt and .xml members of a zip) and keeps what `accept`
// recognises by content; a plain file that is empty, or that `accept` does not recognise, is
// Error(bad_input) naming it (as not `what`).
std::vector<RecognisedInput> read_recognised_inputs(const std::vector<std::filesystem::path>& paths,
                                                    const std::function<bool(std::string_view)>& accept,
                                                    std::string_view what);

// The first 20xx year in a file name ("icd10pcs_codes_2023.txt", "HCPC2019_CONTR_ANWEB.txt").
std::optional<int> year_in_file_name(const std::filesystem::path& path);

// [{role, path, sha256}] for the release's `sources` column; sha256 of each file's bytes.
nlohmann::json describe_sources(const std::vector<std::pair<std::string, std::filesystem::path>>& sources);

}  // namespace medcode::codes
