// `generate --task rationales`: a short clinical reasoning trace for each golden entry, checked to name the
// entry's code and no other, stored as the entry's rationale (used by the SFT export and tokenize).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "medcode/codes/code_system.h"
#include "medcode/dataset/generate.h"
#include "medcode/dataset/llm_tasks.h"

namespace medcode::dataset {

// Why `rationale` cannot be the reasoning of an entry coded `code` (canonical, of `system`), or nullopt when
// it can: it must name the code as a word (canonical or undotted, any case) and no other code of any system.
// A word is code-shaped when it mixes letters and digits and fits a system's shape (guess_system); numbers
// (years, doses, counts) are never codes, nor are words written with lower-case letters and no dot (q8h,
// HbA1c, 5mg), since codes are written in upper case.
std::optional<std::string> rationale_problem(std::string_view rationale, codes::System system,
                                             std::string_view code);

// An item's payload: {"id": the entry id, "text": its description, "code": its code, "title": the code's
// official description}; its value: {"rationale": the trace, white space collapsed}.
class RationalesTask : public TemplateTask {
 public:
  // `codes`: the code of each item id the task may see.
  RationalesTask(PromptTemplate prompt, codes::System system, std::map<std::string, std::string> codes);
  std::int64_t expected_output_tokens(std::span<const llm::WorkItem> batch) const override;

 protected:
  std::optional<nlohmann::json> read_item(const nlohmann::json& entry, std::string& problem) const override;

 private:
  codes::System m_system;
  std::map<std::string, std::string> m_codes;
};

// Error(usage) without exactly one model (an entry holds one rationale), for bad options or an unknown model;
// Error(bad_input) when the release is not imported, no code matches the filters, no entry of those codes is
// golden, or a golden entry's data is not a JSON object. Provider failures are in the summary.
GenerateSummary generate_rationales(store::Database& db, const llm::ModelRegistry& registry,
                                    const GenerateOptions& options);

}  // namespace medcode::dataset
