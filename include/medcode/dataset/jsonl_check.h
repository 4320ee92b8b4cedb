// `medcode check`: checks a JSON Lines dataset file (description → code pairs, chat SFT examples or DPO
// preference pairs, as `medcode export` writes them) line by line: each line's fields for its format, the
// quality checks `medcode score` runs over the store's entries, and its codes against the store's releases.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/code_system.h"
#include "medcode/dataset/quality.h"
#include "medcode/store/database.h"

namespace medcode::dataset {

enum class JsonlFormat { pairs, sft, dpo };

std::string_view format_name(JsonlFormat format);  // "pairs", "sft", "dpo"
std::optional<JsonlFormat> parse_jsonl_format(std::string_view name);
// The format an object's fields point to: `messages` → sft; `prompt`, `chosen` or `rejected` → dpo; `text` or
// `codes` → pairs; nullopt when none of them is there.
std::optional<JsonlFormat> detect_format(const nlohmann::json& object);

struct JsonlFinding {
  std::int64_t line = 0;  // 1-based; 0 for the file as a whole
  std::string severity;   // error | warning
  std::string check;      // not_json, missing_field, ..., and the quality checks of quality.h
  std::string message;
};

// A code a line names, as written, and where.
struct NamedCode {
  std::string field;                    // "codes[1]", "chosen", "messages[2].content"
  std::string text;                     // as written
  std::optional<codes::System> system;  // declared by the line's `source_system`
  bool label = true;                    // false for a DPO pair's rejected answer
};

// What a line holds for the quality checks and the code lookups, once its fields are read.
struct JsonlItem {
  std::string text;  // pairs: `text`; sft: the last user message; dpo: `prompt`
  std::vector<NamedCode> codes;
  std::optional<std::string> split;
  std::optional<int> year;  // `release_year`: the release its codes are looked up in
};

struct ParsedLine {
  std::vector<JsonlFinding> findings;
  std::optional<JsonlItem> item;  // when no field check found an error
};

// The field checks of one line's object for `format`: required fields present and of their type, empty codes
// or answers, the order of chat roles, a DPO pair's two answers told apart; unknown fields are warnings.
ParsedLine parse_jsonl_object(const nlohmann::json& object, JsonlFormat format, std::int64_t line);

struct JsonlCheckOptions {
  std::optional<JsonlFormat> format;  // else detected from the first object that shows it
  std::string store_name;             // where a store was looked for, for the note when there is none
};

struct CheckCount {
  std::string severity;
  std::int64_t count = 0;
};

struct JsonlCheckSummary {
  std::string file;
  std::optional<JsonlFormat> format;
  bool format_detected = false;
  std::int64_t lines = 0;
  std::int64_t items = 0;  // lines whose fields passed, so that the quality checks saw them
  std::int64_t errors = 0;
  std::int64_t warnings = 0;
  std::map<std::string, CheckCount> checks;  // by check
  LabelDistribution labels;
  std::optional<std::string> store;  // the store codes were looked up in
  std::int64_t codes_looked_up = 0;
  std::int64_t codes_not_looked_up = 0;  // no store, or no release of their system
  std::vector<std::string> notes;        // checks skipped, and why
  bool has_errors() const { return errors > 0; }
};

using JsonlFindingSink = std::function<void(const JsonlFinding&)>;

// Checks the lines of one file as they come; memory grows with the distinct texts and codes only.
class JsonlChecker {
 public:
  // `db`: the store whose releases codes are looked up in; nullptr skips that check, with a note.
  JsonlChecker(JsonlCheckOptions options, store::Database* db, JsonlFindingSink sink);
  JsonlChecker(const JsonlChecker&) = delete;  // the quality checker's sink points back here
  JsonlChecker& operator=(const JsonlChecker&) = delete;

  void add_line(std::string_view line);
  std::int64_t lines() const { return m_summary.lines; }
  JsonlCheckSummary finish(std::string file);

 private:
  void report(JsonlFinding finding);
  void check_item(const JsonlItem& item, std::int64_t line);
  void look_up(const NamedCode& code, const std::string& canonical, codes::System system,
               std::optional<int> year, std::int64_t line);
  void skip_lookup(const std::string& why);

  JsonlCheckOptions m_options;
  std::optional<CodeLookup> m_lookup;
  JsonlFindingSink m_sink;
  QualityChecker m_quality;
  JsonlCheckSummary m_summary;
  std::map<std::string, std::int64_t> m_skipped;  // why codes were not looked up → how many
};

// Streams `path` through a JsonlChecker. Error(bad_input) naming the file when it is missing, a folder or
// cannot be read.
JsonlCheckSummary check_jsonl_file(const std::filesystem::path& path, const JsonlCheckOptions& options,
                                   store::Database* db, const JsonlFindingSink& sink);

nlohmann::ordered_json to_json(const JsonlFinding& finding);
// Everything but the findings, which --json streams before it.
nlohmann::ordered_json to_json(const JsonlCheckSummary& summary);

}  // namespace medcode::dataset
