// The field checks of `medcode check` for each line format: the shapes `medcode export` writes
// (docs/export.md) and the readers of `evaluate`, `tokenize` and `train --dpo` accept.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "medcode/dataset/jsonl_check.h"
#include "medcode/util/text.h"

namespace medcode::dataset {

namespace {

using Json = nlohmann::json;

enum class Type { string, integer, number, array };

const char* type_name(Type type) {
  switch (type) {
    case Type::string:
      return "a string";
    case Type::integer:
      return "an integer";
    case Type::number:
      return "a number";
    case Type::array:
      return "an array";
  }
  return "";
}

bool has_type(const Json& value, Type type) {
  switch (type) {
    case Type::string:
      return value.is_string();
    case Type::integer:
      return value.is_number_integer();
    case Type::number:
      return value.is_number();
    case Type::array:
      return value.is_array();
  }
  return false;
}

struct FieldRule {
  std::string_view name;
  Type type;
  bool required = false;
  bool nullable = false;
};

// Fields `medcode export` and `cohort export` write to description → code pairs, and `rationale`, which
// `tokenize` reads.
constexpr std::array k_pair_fields = {
    FieldRule{"text", Type::string, true, false},
    FieldRule{"codes", Type::array, true, false},
    FieldRule{"entry_id", Type::integer, false, false},
    FieldRule{"quality", Type::number, false, true},
    FieldRule{"source_code", Type::string, false, true},
    FieldRule{"source_system", Type::string, false, true},
    FieldRule{"kind", Type::string, false, true},
    FieldRule{"model", Type::string, false, true},
    FieldRule{"split", Type::string, false, true},
    FieldRule{"rationale", Type::string, false, true},
    FieldRule{"source", Type::string, false, true},
    FieldRule{"subject_id", Type::integer, false, false},
    FieldRule{"hadm_id", Type::integer, false, false},
    FieldRule{"release_year", Type::integer, false, true},
};
constexpr std::array k_sft_fields = {
    FieldRule{"messages", Type::array, true, false},
    FieldRule{"split", Type::string, false, true},
};
constexpr std::array k_dpo_fields = {
    FieldRule{"prompt", Type::string, true, false},
    FieldRule{"chosen", Type::string, true, false},
    FieldRule{"rejected", Type::string, true, false},
    FieldRule{"split", Type::string, false, true},
};

// The code an answer starts with ("E11.65 Type 2 diabetes ..."), after the reasoning an SFT answer may open
// with between <think> and </think>; nullopt when its first word has the shape of no code system.
std::optional<std::string> answer_code(std::string_view answer) {
  answer = util::trim(answer);
  if (answer.starts_with("<think>")) {
    std::size_t end = answer.find("</think>");
    if (end == std::string_view::npos) return std::nullopt;
    answer = util::trim(answer.substr(end + std::string_view("</think>").size()));
  }
  std::string_view word = answer.substr(0, answer.find_first_of(" \t\r\n"));
  while (!word.empty() && (word.back() == ':' || word.back() == ',' || word.back() == ';'))
    word.remove_suffix(1);
  if (word.empty() || !codes::guess_system(word)) return std::nullopt;
  return std::string(word);
}

// Collects one line's findings.
class LineFindings {
 public:
  explicit LineFindings(std::int64_t line) : m_line(line) {}

  void error(std::string_view check, std::string message) { add("error", check, std::move(message)); }
  void warning(std::string_view check, std::string message) { add("warning", check, std::move(message)); }
  bool has_errors() const { return m_errors > 0; }
  std::vector<JsonlFinding> take() { return std::move(m_findings); }

 private:
  void add(std::string_view severity, std::string_view check, std::string message) {
    if (severity == "error") ++m_errors;
    m_findings.push_back({m_line, std::string(severity), std::string(check), std::move(message)});
  }

  std::int64_t m_line;
  std::vector<JsonlFinding> m_findings;
  int m_errors = 0;
};

// Required fields present, every known field of its type, unknown fields named.
template <std::size_t N>
void check_fields(const Json& object, const std::array<FieldRule, N>& rules, LineFindings& findings) {
  for (const FieldRule& rule : rules) {
    auto field = object.find(rule.name);
    if (field == object.end()) {
      if (rule.required) findings.error("missing_field", fmt::format("field `{}` is missing", rule.name));
      continue;
    }
    if (field->is_null() && rule.nullable) continue;
    if (!has_type(*field, rule.type)) {
      findings.error("field_type", fmt::format("field `{}` is {}, not {}", rule.name, field->type_name(),
                                               type_name(rule.type)));
    }
  }
  for (const auto& [name, value] : object.items()) {
    bool known =
        std::any_of(rules.begin(), rules.end(), [&](const FieldRule& rule) { return rule.name == name; });
    if (!known) findings.warning("unknown_field", fmt::format("unknown field `{}`", name));
  }
}

// `split`, where the line has one: what `tokenize` and `train` accept.
std::optional<std::string> read_split(const Json& object, LineFindings& findings) {
  auto field = object.find("split");
  if (field == object.end() || !field->is_string()) return std::nullopt;
  std::string split = field->get<std::string>();
  if (split == "train" || split == "val" || split == "test") return split;
  findings.error("bad_split", fmt::format("field `split` is '{}', not train, val or test", split));
  return std::nullopt;
}

ParsedLine parse_pair(const Json& object, LineFindings& findings) {
  check_fields(object, k_pair_fields, findings);
  JsonlItem item;
  item.split = read_split(object, findings);
  std::optional<codes::System> system;
  if (auto declared = object.find("source_system"); declared != object.end() && declared->is_string()) {
    system = codes::parse_system(declared->get<std::string>());
    if (!system) {
      findings.error("unknown_system", fmt::format("field `source_system` is '{}', not a known code system",
                                                   declared->get<std::string>()));
    }
  }
  if (auto year = object.find("release_year"); year != object.end() && year->is_number_integer()) {
    item.year = year->get<int>();
  }
  if (auto codes = object.find("codes"); codes != object.end() && codes->is_array()) {
    if (codes->empty()) findings.error("empty_codes", "field `codes` is an empty array");
    for (std::size_t i = 0; i < codes->size(); ++i) {
      const Json& code = (*codes)[i];
      if (!code.is_string() || util::trim(code.get<std::string>()).empty()) {
        findings.error("field_type", fmt::format("`codes[{}]` is {}, not a code", i, code.dump()));
        continue;
      }
      item.codes.push_back({fmt::format("codes[{}]", i), code.get<std::string>(), system, true});
    }
  }
  if (findings.has_errors()) return {findings.take(), std::nullopt};
  item.text = object["text"].get<std::string>();
  return {findings.take(), std::move(item)};
}

// A chat message's fields; false when it cannot be read.
bool check_message(const Json& message, std::size_t index, LineFindings& findings) {
  if (!message.is_object()) {
    findings.error("field_type",
                   fmt::format("`messages[{}]` is {}, not an object", index, message.type_name()));
    return false;
  }
  bool readable = true;
  for (std::string_view key : {"role", "content"}) {
    auto field = message.find(key);
    if (field == message.end() || !field->is_string()) {
      findings.error(field == message.end() ? "missing_field" : "field_type",
                     fmt::format("`messages[{}].{}` is {}", index, key,
                                 field == message.end() ? "missing" : "not a string"));
      readable = false;
    }
  }
  for (const auto& [name, value] : message.items()) {
    if (name != "role" && name != "content") {
      findings.warning("unknown_field", fmt::format("unknown field `messages[{}].{}`", index, name));
    }
  }
  return readable;
}

// An optional system message first, then user and assistant in turn, ending with the assistant's answer:
// the only shape chat templates render as one training example.
void check_roles(const Json& messages, LineFindings& findings) {
  std::string_view expected = "user";
  for (std::size_t i = 0; i < messages.size(); ++i) {
    std::string role = messages[i]["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant") {
      findings.error("message_order",
                     fmt::format("`messages[{}].role` is '{}', not system, user or assistant", i, role));
      return;
    }
    if (role == "system") {
      if (i > 0)
        findings.error("message_order", fmt::format("`messages[{}]` is a system message after the first", i));
      continue;
    }
    if (role != expected) {
      findings.error("message_order", fmt::format("`messages[{}]` is from the {}, where the {} speaks next",
                                                  i, role, expected));
      return;
    }
    expected = expected == "user" ? "assistant" : "user";
  }
  std::string last = messages.back()["role"].get<std::string>();
  if (last != "assistant") {
    findings.error("message_order", fmt::format("the last message is from the {}, not the assistant", last));
  }
}

ParsedLine parse_sft(const Json& object, LineFindings& findings) {
  check_fields(object, k_sft_fields, findings);
  JsonlItem item;
  item.split = read_split(object, findings);
  auto messages = object.find("messages");
  if (messages == object.end() || !messages->is_array()) return {findings.take(), std::nullopt};
  if (messages->empty()) {
    findings.error("field_type", "field `messages` is an empty array");
    return {findings.take(), std::nullopt};
  }
  bool readable = true;
  for (std::size_t i = 0; i < messages->size(); ++i)
    readable = check_message((*messages)[i], i, findings) && readable;
  if (!readable) return {findings.take(), std::nullopt};
  check_roles(*messages, findings);
  if (findings.has_errors()) return {findings.take(), std::nullopt};
  std::size_t last = messages->size() - 1;
  std::string answer = (*messages)[last]["content"].get<std::string>();
  item.text = (*messages)[last - 1]["content"].get<std::string>();  // the user's turn the answer replies to
  std::string field = fmt::format("messages[{}].content", last);
  if (util::trim(answer).empty()) {
    findings.error("empty_answer", fmt::format("`{}`, the assistant's answer, is empty", field));
    return {findings.take(), std::nullopt};
  }
  if (std::optional<std::string> code = answer_code(answer)) {
    item.codes.push_back({field, *code, std::nullopt, true});
  } else {
    findings.warning("answer_without_code", "the assistant's answer does not start with a code");
  }
  return {findings.take(), std::move(item)};
}

ParsedLine parse_dpo(const Json& object, LineFindings& findings) {
  check_fields(object, k_dpo_fields, findings);
  JsonlItem item;
  item.split = read_split(object, findings);
  if (findings.has_errors()) return {findings.take(), std::nullopt};
  std::string chosen = object["chosen"].get<std::string>();
  std::string rejected = object["rejected"].get<std::string>();
  for (const auto& [name, answer] : {std::pair{"chosen", &chosen}, std::pair{"rejected", &rejected}}) {
    if (util::trim(*answer).empty()) findings.error("empty_answer", fmt::format("field `{}` is empty", name));
  }
  if (findings.has_errors()) return {findings.take(), std::nullopt};
  std::optional<std::string> chosen_code = answer_code(chosen);
  std::optional<std::string> rejected_code = answer_code(rejected);
  // `train --dpo` tells the two answers apart by their codes: a pair that names one code twice teaches
  // nothing.
  if (util::trim(chosen) == util::trim(rejected)) {
    findings.error("same_answer", "`chosen` and `rejected` are the same answer");
  } else if (chosen_code && rejected_code && *chosen_code == *rejected_code) {
    findings.error("same_answer", fmt::format("`chosen` and `rejected` both answer {}", *chosen_code));
  }
  if (findings.has_errors()) return {findings.take(), std::nullopt};
  item.text = object["prompt"].get<std::string>();
  if (chosen_code) {
    item.codes.push_back({"chosen", *chosen_code, std::nullopt, true});
  } else {
    findings.warning("answer_without_code", "`chosen` does not start with a code");
  }
  if (rejected_code) {
    item.codes.push_back({"rejected", *rejected_code, std::nullopt, false});
  } else {
    findings.warning("answer_without_code", "`rejected` does not start with a code");
  }
  return {findings.take(), std::move(item)};
}

}  // namespace

std::string_view format_name(JsonlFormat format) {
  switch (format) {
    case JsonlFormat::pairs:
      return "pairs";
    case JsonlFormat::sft:
      return "sft";
    case JsonlFormat::dpo:
      return "dpo";
  }
  return "";
}

std::optional<JsonlFormat> parse_jsonl_format(std::string_view name) {
  for (JsonlFormat format : {JsonlFormat::pairs, JsonlFormat::sft, JsonlFormat::dpo}) {
    if (format_name(format) == name) return format;
  }
  return std::nullopt;
}

std::optional<JsonlFormat> detect_format(const nlohmann::json& object) {
  if (!object.is_object()) return std::nullopt;
  if (object.contains("messages")) return JsonlFormat::sft;
  if (object.contains("prompt") || object.contains("chosen") || object.contains("rejected"))
    return JsonlFormat::dpo;
  if (object.contains("text") || object.contains("codes")) return JsonlFormat::pairs;
  return std::nullopt;
}

ParsedLine parse_jsonl_object(const nlohmann::json& object, JsonlFormat format, std::int64_t line) {
  LineFindings findings(line);
  switch (format) {
    case JsonlFormat::pairs:
      return parse_pair(object, findings);
    case JsonlFormat::sft:
      return parse_sft(object, findings);
    case JsonlFormat::dpo:
      return parse_dpo(object, findings);
  }
  return {};
}

}  // namespace medcode::dataset
