// The `recode` task: a model codes generated entries blind for `medcode score`, answering a ranked list of
// codes per entry; codes that are not billable codes of the entries' release are dropped and counted.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <unordered_set>

#include "medcode/codes/code_system.h"
#include "medcode/dataset/llm_tasks.h"

namespace medcode::dataset {

// An item's payload: {"id": entry id as a string, "text": the entry's text}; never the entry's code.
class RecodeTask : public TemplateTask {
 public:
  // `valid_codes`: the canonical billable codes of the release the entries were written for.
  RecodeTask(PromptTemplate prompt, codes::System system, std::size_t count,
             std::unordered_set<std::string> valid_codes);
  std::int64_t expected_output_tokens(std::span<const llm::WorkItem> batch) const override;

 protected:
  std::map<std::string, std::string> values() const override;
  // {"codes": [...canonical, valid, distinct, at most `count`], "invalid": how many were dropped as invalid};
  // a problem when no code is valid, so the model is asked again.
  std::optional<nlohmann::json> read_item(const nlohmann::json& entry, std::string& problem) const override;

 private:
  codes::System m_system;
  std::size_t m_count;
  std::unordered_set<std::string> m_valid_codes;
};

}  // namespace medcode::dataset
