// Reads labelled JSON Lines datasets (`text` + `codes` per line) into evaluation examples, codes canonical.
#include <algorithm>

#include "medcode/codes/code_system.h"
#include "medcode/eval/dataset_files.h"
#include "medcode/eval/evaluation.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/text.h"

namespace medcode::eval {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_default_train_file = k_export_train_file;

struct LineParser {
  std::string file;
  std::size_t line = 0;

  [[noreturn]] void fail_field(std::string_view field, std::string_view problem) const {
    fail(ExitCode::bad_input, "{}:{}: field {}: {}", file, line, field, problem);
  }

  std::optional<codes::System> declared_system(const nlohmann::json& object) const {
    auto it = object.find("source_system");
    if (it == object.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) fail_field("source_system", "not a string");
    auto system = codes::parse_system(it->get<std::string>());
    if (!system) fail_field("source_system", fmt::format("unknown code system '{}'", it->get<std::string>()));
    return system;
  }

  std::vector<std::string> gold_codes(const nlohmann::json& object) const {
    auto it = object.find("codes");
    if (it == object.end()) fail_field("codes", "missing");
    if (!it->is_array() || it->empty()) fail_field("codes", "not a non-empty array of codes");
    std::optional<codes::System> declared = declared_system(object);
    std::vector<std::string> gold;
    for (const auto& value : *it) {
      if (!value.is_string()) fail_field("codes", fmt::format("{} is not a string", value.dump()));
      const auto text = value.get<std::string>();
      codes::System system = declared.value_or(codes::guess_system(text).value_or(codes::System::icd10cm));
      std::optional<std::string> canonical = codes::canonical_code(system, text);
      if (!canonical) {
        fail_field("codes", fmt::format("'{}' is not a well-formed {} code", text,
                                        codes::system_display_name(system)));
      }
      if (std::find(gold.begin(), gold.end(), *canonical) == gold.end()) gold.push_back(*canonical);
    }
    return gold;
  }

  std::optional<std::string> split(const nlohmann::json& object) const {
    auto it = object.find("split");
    if (it == object.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) fail_field("split", "not a string");
    return it->get<std::string>();
  }

  std::string text(const nlohmann::json& object) const {
    auto it = object.find("text");
    if (it == object.end()) fail_field("text", "missing");
    if (!it->is_string() || it->get<std::string>().empty()) fail_field("text", "not a non-empty string");
    return it->get<std::string>();
  }
};

// Every example of the file whose split passes `keep_split`, up to `limit`.
template <typename KeepSplit>
std::vector<EvalExample> read_examples(const fs::path& path, KeepSplit keep_split,
                                       std::optional<std::size_t> limit) {
  const std::string content = util::read_file(path);
  LineParser parser{path.string()};
  std::vector<EvalExample> examples;
  for (std::string_view line : util::split_lines(content)) {
    ++parser.line;
    if (limit && examples.size() >= *limit) break;
    if (util::trim(line).empty()) continue;
    nlohmann::json object = nlohmann::json::parse(line, nullptr, false);
    if (object.is_discarded() || !object.is_object()) {
      fail(ExitCode::bad_input, "{}:{}: not a JSON object", parser.file, parser.line);
    }
    // Every line is checked, also those the split filter drops: a broken file should not pass by luck.
    EvalExample example{parser.text(object), parser.gold_codes(object)};
    if (keep_split(parser.split(object))) examples.push_back(std::move(example));
  }
  return examples;
}

}  // namespace

std::vector<EvalExample> load_eval_dataset(const fs::path& path, const EvalDatasetOptions& options) {
  auto keep = [&](const std::optional<std::string>& split) {
    return !options.split || split == options.split;
  };
  std::vector<EvalExample> examples = read_examples(path, keep, options.limit);
  if (examples.empty()) {
    fail(ExitCode::bad_input, "{}: no examples to evaluate{}", path.string(),
         options.split ? fmt::format(" (none of split '{}')", *options.split) : std::string());
  }
  return examples;
}

std::vector<EvalExample> load_train_examples(const fs::path& path) {
  auto keep = [](const std::optional<std::string>& split) { return !split || *split == "train"; };
  std::vector<EvalExample> examples = read_examples(path, keep, std::nullopt);
  if (examples.empty())
    fail(ExitCode::bad_input, "{}: no training examples (split 'train' or none)", path.string());
  return examples;
}

std::optional<fs::path> default_train_path(const fs::path& dataset_path) {
  fs::path candidate = dataset_path.parent_path() / k_default_train_file;
  std::error_code error;
  if (fs::is_regular_file(candidate, error)) return candidate;
  return std::nullopt;
}

}  // namespace medcode::eval
