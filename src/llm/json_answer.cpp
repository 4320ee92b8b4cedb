// A model's answer as JSON, and validation against the JSON-schema subset the prompt templates use.
#include "medcode/llm/json_answer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

namespace medcode::llm {

namespace {

std::optional<nlohmann::json> try_parse(std::string_view text) {
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

// The index just past the bracket that closes the one at `open`, skipping strings; npos when unbalanced.
std::size_t matching_close(std::string_view text, std::size_t open) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = open; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

std::string type_of(const nlohmann::json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "boolean";
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  if (value.is_string()) return "string";
  if (value.is_array()) return "array";
  return "object";
}

bool has_type(const nlohmann::json& value, const std::string& type) {
  if (type == "number") return value.is_number();
  if (type == "integer") {
    return value.is_number_integer() ||
           (value.is_number_float() && std::floor(value.get<double>()) == value.get<double>());
  }
  return type_of(value) == type;
}

std::optional<std::string> check(const nlohmann::json& value, const nlohmann::json& schema,
                                 const std::string& path);

std::optional<std::string> check_type(const nlohmann::json& value, const nlohmann::json& schema,
                                      const std::string& path) {
  if (!schema.contains("type")) return std::nullopt;
  std::vector<std::string> types;
  if (schema["type"].is_array()) {
    for (const auto& type : schema["type"]) types.push_back(type.get<std::string>());
  } else {
    types.push_back(schema["type"].get<std::string>());
  }
  for (const auto& type : types) {
    if (has_type(value, type)) return std::nullopt;
  }
  return fmt::format("{}: expected {}, got {}", path, fmt::join(types, " or "), type_of(value));
}

std::optional<std::string> check_object(const nlohmann::json& value, const nlohmann::json& schema,
                                        const std::string& path) {
  if (schema.contains("required")) {
    for (const auto& name : schema["required"]) {
      if (!value.contains(name.get<std::string>())) {
        return fmt::format("{}: missing required property '{}'", path, name.get<std::string>());
      }
    }
  }
  const nlohmann::json* properties = schema.contains("properties") ? &schema["properties"] : nullptr;
  bool closed = schema.contains("additionalProperties") && schema["additionalProperties"] == false;
  for (const auto& [name, member] : value.items()) {
    if (properties && properties->contains(name)) {
      if (auto problem = check(member, (*properties)[name], path + "." + name)) return problem;
    } else if (closed) {
      return fmt::format("{}: unexpected property '{}'", path, name);
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_array(const nlohmann::json& value, const nlohmann::json& schema,
                                       const std::string& path) {
  if (schema.contains("minItems") && value.size() < schema["minItems"].get<std::size_t>()) {
    return fmt::format("{}: expected at least {} items, got {}", path, schema["minItems"].get<std::size_t>(),
                       value.size());
  }
  if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<std::size_t>()) {
    return fmt::format("{}: expected at most {} items, got {}", path, schema["maxItems"].get<std::size_t>(),
                       value.size());
  }
  if (!schema.contains("items")) return std::nullopt;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (auto problem = check(value[i], schema["items"], fmt::format("{}[{}]", path, i))) return problem;
  }
  return std::nullopt;
}

std::optional<std::string> check_scalar(const nlohmann::json& value, const nlohmann::json& schema,
                                        const std::string& path) {
  if (value.is_string()) {
    // Lengths in characters, not bytes, as JSON Schema counts them.
    std::size_t length = 0;
    for (unsigned char c : value.get_ref<const std::string&>()) length += (c & 0xC0) != 0x80;
    if (schema.contains("minLength") && length < schema["minLength"].get<std::size_t>()) {
      return fmt::format("{}: shorter than {} characters", path, schema["minLength"].get<std::size_t>());
    }
    if (schema.contains("maxLength") && length > schema["maxLength"].get<std::size_t>()) {
      return fmt::format("{}: longer than {} characters", path, schema["maxLength"].get<std::size_t>());
    }
  }
  if (value.is_number()) {
    double number = value.get<double>();
    if (schema.contains("minimum") && number < schema["minimum"].get<double>()) {
      return fmt::format("{}: {} is below the minimum {}", path, value.dump(), schema["minimum"].dump());
    }
    if (schema.contains("maximum") && number > schema["maximum"].get<double>()) {
      return fmt::format("{}: {} is above the maximum {}", path, value.dump(), schema["maximum"].dump());
    }
  }
  return std::nullopt;
}

std::optional<std::string> check(const nlohmann::json& value, const nlohmann::json& schema,
                                 const std::string& path) {
  if (!schema.is_object()) return std::nullopt;
  if (auto problem = check_type(value, schema, path)) return problem;
  if (schema.contains("enum")) {
    bool found = false;
    std::vector<std::string> allowed;
    for (const auto& option : schema["enum"]) {
      found |= option == value;
      allowed.push_back(option.is_string() ? option.get<std::string>() : option.dump());
    }
    if (!found) {
      std::string shown = value.is_string() ? "'" + value.get<std::string>() + "'" : value.dump();
      return fmt::format("{}: {} is not one of {}", path, shown, fmt::join(allowed, ", "));
    }
  }
  if (value.is_object()) return check_object(value, schema, path);
  if (value.is_array()) return check_array(value, schema, path);
  return check_scalar(value, schema, path);
}

}  // namespace

std::optional<nlohmann::json> extract_json(std::string_view text) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  if (auto whole = try_parse(text)) return whole;
  // A fenced block: ```json ... ``` or ``` ... ```
  if (auto fence = text.find("```"); fence != std::string_view::npos) {
    auto body = text.find('\n', fence);
    auto end = body == std::string_view::npos ? body : text.find("```", body);
    if (end != std::string_view::npos) {
      if (auto fenced = try_parse(text.substr(body + 1, end - body - 1))) return fenced;
    }
  }
  // The first balanced object or array in prose. Each candidate costs a scan to its close and a parse; an
  // answer of thousands of nested or unclosed brackets would make that quadratic, so the work is capped at
  // a few passes over the text and the answer is given up as holding no JSON.
  std::size_t budget = 8 * text.size() + (std::size_t{1} << 16);
  for (std::size_t open = text.find_first_of("{["); open != std::string_view::npos;
       open = text.find_first_of("{[", open + 1)) {
    std::size_t close = matching_close(text, open);
    std::size_t cost = 2 * ((close == std::string_view::npos ? text.size() : close) - open);
    if (cost > budget) return std::nullopt;
    budget -= cost;
    if (close == std::string_view::npos) continue;
    if (auto inner = try_parse(text.substr(open, close - open))) return inner;
  }
  return std::nullopt;
}

bool json_cut_off(std::string_view text) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::size_t open = text.find_first_of("{[");
  if (open == std::string_view::npos || try_parse(text)) return false;
  return matching_close(text, open) == std::string_view::npos;
}

std::optional<std::string> validate_schema(const nlohmann::json& value, const nlohmann::json& schema) {
  return check(value, schema, "$");
}

}  // namespace medcode::llm
