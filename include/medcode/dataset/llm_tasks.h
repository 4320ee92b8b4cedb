// The generation tasks that go through a model: `descriptions` (clinical and lay texts a coder would assign
// a code to) and `facets` (the clinical facets of a procedure or supply code), each rendered from its prompt
// template and read back item by item.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "medcode/dataset/prompt_template.h"
#include "medcode/llm/engine.h"

namespace medcode::dataset {

// An item's payload: {"id": canonical code, "description": the code's description}.
class TemplateTask : public llm::BatchTask {
 public:
  TemplateTask(PromptTemplate prompt, std::string system_display_name);
  std::string name() const override { return m_prompt.name; }
  llm::ChatRequest make_request(std::span<const llm::WorkItem> batch) const override;
  std::string repair_message(const std::string& problem) const override;
  llm::AnswerReading read_answer(const nlohmann::json& answer,
                                 std::span<const llm::WorkItem> batch) const override;

 protected:
  // Extra placeholders of the task (e.g. count).
  virtual std::map<std::string, std::string> values() const { return {}; }
  // One item's entry of the answer, validated by the schema already; returns the value to store or a problem.
  virtual std::optional<nlohmann::json> read_item(const nlohmann::json& entry,
                                                  std::string& problem) const = 0;

  PromptTemplate m_prompt;
  std::string m_system_display_name;
};

class DescriptionsTask : public TemplateTask {
 public:
  DescriptionsTask(PromptTemplate prompt, std::string system_display_name, int count);
  std::int64_t expected_output_tokens(std::span<const llm::WorkItem> batch) const override;

 protected:
  std::map<std::string, std::string> values() const override;
  // {"clinical": [...], "lay": [...]}: distinct, trimmed, at most `count` of each.
  std::optional<nlohmann::json> read_item(const nlohmann::json& entry, std::string& problem) const override;

 private:
  int m_count;
};

class FacetsTask : public TemplateTask {
 public:
  using TemplateTask::TemplateTask;
  std::int64_t expected_output_tokens(std::span<const llm::WorkItem> batch) const override;

 protected:
  // The facets object without its id.
  std::optional<nlohmann::json> read_item(const nlohmann::json& entry, std::string& problem) const override;
};

}  // namespace medcode::dataset
