// Fuzzes the reading of a model's answer (llm/json_answer.h) as the engine does it: cut-off check, JSON
// extraction, then validation against the answer schema of each built-in prompt template.
#include <string>
#include <vector>

#include "harness.h"
#include "medcode/llm/json_answer.h"
#include "medcode/llm/prompt_template.h"

namespace {

const std::vector<nlohmann::json>& builtin_schemas() {
  static const std::vector<nlohmann::json> schemas = [] {
    std::vector<nlohmann::json> out;
    for (const char* task : {"code-note", "conversation", "descriptions", "facets", "recode"}) {
      out.push_back(medcode::llm::load_prompt_template(task, std::nullopt).schema);
    }
    return out;
  }();
  return schemas;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using medcode::fuzz::check;
  std::string_view text = medcode::fuzz::as_text(data, size);
  (void)medcode::llm::json_cut_off(text);
  std::optional<nlohmann::json> answer = medcode::llm::extract_json(text);
  if (!answer) return 0;
  std::string dumped = answer->dump();
  check(medcode::llm::extract_json(dumped) == answer, "an extracted value reads back from its dump: {}",
        dumped);
  for (const nlohmann::json& schema : builtin_schemas()) {
    if (auto violation = medcode::llm::validate_schema(*answer, schema)) {
      check(violation->starts_with("$"), "a violation names its path from $: {}", *violation);
    }
  }
  return 0;
}
