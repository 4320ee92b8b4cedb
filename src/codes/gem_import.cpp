// `import gem`: CMS General Equivalence Mappings into gem_mappings, every file given in one transaction, each
// (year, direction) replacing what an earlier import stored for it.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "medcode/codes/gem.h"
#include "medcode/codes/import.h"
#include "medcode/codes/import_inputs.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/progress.h"

namespace medcode::codes {

namespace {

struct ParsedGem {
  const RecognisedInput* input = nullptr;
  int year = 0;
  GemFile file;
};

// The member's name first: a zip of GEMs is named for the year too, but each file inside says it more surely.
int gem_year(const ImportOptions& options, const RecognisedInput& recognised) {
  if (options.year) return *options.year;
  if (auto year = year_in_file_name(recognised.input.name)) return *year;
  if (auto year = year_in_file_name(recognised.path)) return *year;
  fail(ExitCode::usage, "cannot tell the GEM year from the name of {}; pass --year", recognised.input.name);
}

std::vector<ParsedGem> parse_all(const ImportOptions& options, const std::vector<RecognisedInput>& inputs) {
  std::vector<ParsedGem> parsed;
  std::set<std::string> seen;  // counters are kept per direction
  for (const RecognisedInput& recognised : inputs) {
    util::report(options.progress, "parse GEM files", parsed.size(), inputs.size());
    ParsedGem gem{&recognised, gem_year(options, recognised),
                  parse_gem_file(recognised.input.content, recognised.input.name)};
    if (!seen.insert(gem_direction_name(gem.file.direction)).second) {
      fail(ExitCode::bad_input, "{}: a second {} GEM in one import; import one file per direction at a time",
           recognised.input.name, gem_direction_display_name(gem.file.direction));
    }
    parsed.push_back(std::move(gem));
  }
  return parsed;
}

// Absolute, so that the run's counters say which file was read wherever the command ran.
std::string file_name(const RecognisedInput& recognised) {
  std::string name = std::filesystem::absolute(recognised.path).string();
  if (recognised.input.name != recognised.path.string())  // a zip member: "archive.zip:member"
    name += recognised.input.name.substr(recognised.path.string().size());
  return name;
}

// Replaces the rows of the GEM's (year, direction) and returns its counters.
nlohmann::json write_gem(store::Database& db, const ParsedGem& gem) {
  std::string source(gem_code_set_name(gem.file.direction.source));
  std::string target(gem_code_set_name(gem.file.direction.target));
  db.prepare("DELETE FROM gem_mappings WHERE year = ? AND source = ? AND target = ?")
      .bind_all(gem.year, source, target)
      .run();
  store::Statement insert = db.prepare(
      "INSERT INTO gem_mappings (year, source, target, source_code, target_code, approximate, no_map, "
      "combination, scenario, choice_list) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  std::set<std::string_view> source_codes;
  std::int64_t n_no_map = 0;
  std::int64_t n_approximate = 0;
  std::int64_t n_combination = 0;
  for (const GemEntry& entry : gem.file.entries) {
    insert.run_with(gem.year, source, target, entry.source_code, entry.target_code, int{entry.approximate},
                    int{entry.no_map}, int{entry.combination}, entry.scenario, entry.choice_list);
    source_codes.insert(entry.source_code);
    n_no_map += entry.no_map;
    n_approximate += entry.approximate && !entry.no_map;
    n_combination += entry.combination;
  }
  auto n_entries = static_cast<std::int64_t>(gem.file.entries.size());
  return {{"year", gem.year},
          {"file", file_name(*gem.input)},
          {"entries", n_entries},
          {"source_codes", source_codes.size()},
          {"mappings", n_entries - n_no_map},
          {"no_map", n_no_map},
          {"approximate", n_approximate},
          {"combination", n_combination}};
}

}  // namespace

ImportSummary import_gem(store::Database& db, const ImportOptions& options) {
  if (options.paths.empty()) {
    fail(ExitCode::usage,
         "GEMs are not fetched: pass the GEM files (e.g. 2018_I9gem.txt, or the zip CMS publishes them in)");
  }
  util::report(options.progress, "read files", 0, options.paths.size());
  std::vector<RecognisedInput> inputs =
      read_recognised_inputs(options.paths, looks_like_gem_file,
                             "a GEM file (source code, target code and five flag digits a line)");
  std::vector<ParsedGem> parsed = parse_all(options, inputs);

  ImportSummary summary;
  store::Transaction transaction(db);
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    util::report(options.progress, "write mappings", i, parsed.size());
    nlohmann::json counters = write_gem(db, parsed[i]);
    summary.n_codes += counters["entries"].get<std::int64_t>();
    summary.year = std::max(summary.year, parsed[i].year);
    summary.counters[gem_direction_name(parsed[i].file.direction)] = std::move(counters);
  }
  transaction.commit();
  util::report(options.progress, "write mappings", parsed.size(), parsed.size());
  return summary;
}

}  // namespace medcode::codes
