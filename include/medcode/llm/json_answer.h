// Reading a model's answer as JSON and validating it against a task's JSON schema (the subset tasks use:
// type, properties, required, additionalProperties, items, minItems, maxItems, enum, minLength, maxLength,
// minimum, maximum). Debian packages no C++ JSON-schema validator.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace medcode::llm {

// The JSON value in a model's text: the whole text, else the inside of a ```json fence, else the span from
// the first '{' or '[' to its matching close. std::nullopt when none parses.
std::optional<nlohmann::json> extract_json(std::string_view text);

// Whether the text's JSON is cut off: the text is not JSON as a whole and its first '{' or '[' never closes
// (an answer stopped at the provider's output limit, or cut in transit).
bool json_cut_off(std::string_view text);

// The first violation as "$.items[3].lay: expected array, got string"; std::nullopt when `value` is valid.
std::optional<std::string> validate_schema(const nlohmann::json& value, const nlohmann::json& schema);

}  // namespace medcode::llm
