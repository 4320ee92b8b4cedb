// Resolution of an import's input files and the provenance recorded with the release.
#include "medcode/codes/import_inputs.h"

#include <fmt/ranges.h>

#include <regex>
#include <set>

#include "medcode/fetch/file_registry.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace fs = std::filesystem;

std::vector<fs::path> resolve_import_paths(store::Database& db, System system, const ImportOptions& options,
                                           int& year_out) {
  year_out = 0;
  if (!options.paths.empty()) return options.paths;
  std::string name(system_name(system));
  int year = 0;
  if (options.year) {
    year = *options.year;
  } else {
    store::Statement newest = db.prepare("SELECT max(year) FROM fetched_files WHERE system = ?");
    newest.bind_all(name);
    if (newest.step() && !newest.column_is_null(0)) year = static_cast<int>(newest.column_int64(0));
  }
  std::vector<fetch::FetchedFile> files =
      year ? fetch::fetched_files(db, name, year) : std::vector<fetch::FetchedFile>{};
  if (files.empty()) {
    fail(ExitCode::bad_input, "no {} files {}: run `medcode fetch {}{}` first, or pass the files' paths",
         system_display_name(system), year ? fmt::format("fetched for {}", year) : std::string("fetched"),
         name, year ? fmt::format(" --year {}", year) : std::string());
  }
  std::vector<fs::path> paths;
  std::set<fs::path> seen;  // several roles may live in one archive
  for (const auto& file : files) {
    if (!fs::exists(file.path)) {
      fail(ExitCode::bad_input, "{}: recorded by fetch but missing; run `medcode fetch {} --year {}` again",
           file.path.string(), name, year);
    }
    if (seen.insert(file.path).second) paths.push_back(file.path);
  }
  year_out = year;
  return paths;
}

std::vector<RecognisedInput> read_recognised_inputs(const std::vector<fs::path>& paths,
                                                    const std::function<bool(std::string_view)>& accept,
                                                    std::string_view what) {
  std::vector<RecognisedInput> inputs;
  for (const fs::path& path : paths) {
    if (!util::is_zip_path(path)) {
      util::Input input = util::read_input(path);
      if (util::trim(input.content).empty())
        fail(ExitCode::bad_input, "{}: empty file, not {}", input.name, what);
      if (!accept(input.content)) fail(ExitCode::bad_input, "{}: not {}", input.name, what);
      inputs.push_back({path, std::move(input)});
      continue;
    }
    std::size_t n_before = inputs.size();
    std::vector<std::string> members = util::zip_members(path);
    for (const std::string& member : members) {
      std::string extension = util::to_lower(fs::path(member).extension().string());
      if (extension != ".txt" && extension != ".xml") continue;
      util::Input input{path.string() + ":" + member, util::read_zip_member(path, member)};
      if (accept(input.content)) inputs.push_back({path, std::move(input)});
    }
    if (inputs.size() == n_before) {
      fail(ExitCode::bad_input, "{}: no member is {} (members: {})", path.string(), what,
           members.empty() ? std::string("none") : fmt::format("{}", fmt::join(members, ", ")));
    }
  }
  return inputs;
}

std::optional<int> year_in_file_name(const fs::path& path) {
  static const std::regex k_year(R"((?:^|[^0-9])(20[0-9]{2})(?:[^0-9]|$))");
  std::smatch match;
  std::string name = path.filename().string();
  if (std::regex_search(name, match, k_year)) return std::stoi(match[1].str());
  return std::nullopt;
}

nlohmann::json describe_sources(const std::vector<std::pair<std::string, fs::path>>& sources) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [role, path] : sources) {
    out.push_back(
        {{"role", role}, {"path", fs::absolute(path).string()}, {"sha256", util::sha256_file_hex(path)}});
  }
  return out;
}

}  // namespace medcode::codes
