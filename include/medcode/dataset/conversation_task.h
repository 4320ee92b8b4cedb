// The `conversation` task: one admission's EHR packet in, a chronological doctor–patient conversation out,
// with the rules an answer must meet (docs/generate.md, "conversation"). Its prompts carry MIMIC content,
// so the engine lets only phi_allowed models receive them.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>

#include "medcode/dataset/prompt_template.h"
#include "medcode/llm/engine.h"

namespace medcode::dataset {

struct ConversationRules {
  int min_turns = 8;
  int max_turns = 120;
};

// Checks a conversation answer ({"turns": [{"speaker", "text"}]}, already valid against the schema) against
// the rules: speakers only "doctor" and "patient", the doctor first, no two turns in a row by one speaker,
// min_turns..max_turns turns, no text empty after trimming. Returns the first problem, naming the turn.
std::optional<std::string> conversation_problem(const nlohmann::json& answer, const ConversationRules& rules);

// The answer's turns, texts trimmed and inner whitespace kept: {"turns": [{"speaker", "text"}]}.
nlohmann::json normalized_conversation(const nlohmann::json& answer);

// An item's key is the hadm_id (decimal), its payload the packet.
class ConversationTask : public llm::BatchTask {
 public:
  ConversationTask(PromptTemplate prompt, ConversationRules rules);
  std::string name() const override { return m_prompt.name; }
  llm::ChatRequest make_request(std::span<const llm::WorkItem> batch) const override;
  std::string repair_message(const std::string& problem) const override;
  llm::AnswerReading read_answer(const nlohmann::json& answer,
                                 std::span<const llm::WorkItem> batch) const override;
  std::int64_t expected_output_tokens(std::span<const llm::WorkItem> batch) const override;
  bool carries_credentialed_data() const override { return true; }

  const PromptTemplate& prompt() const { return m_prompt; }
  const ConversationRules& rules() const { return m_rules; }

 private:
  std::map<std::string, std::string> values() const;

  PromptTemplate m_prompt;
  ConversationRules m_rules;
};

}  // namespace medcode::dataset
