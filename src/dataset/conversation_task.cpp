// The conversation prompt (one packet per request) and the rules a conversation answer must meet.
#include "medcode/dataset/conversation_task.h"

#include <fmt/format.h>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::dataset {

std::optional<std::string> conversation_problem(const nlohmann::json& answer,
                                                const ConversationRules& rules) {
  if (!answer.is_object() || !answer.contains("turns") || !answer["turns"].is_array()) {
    return "the answer has no \"turns\" array";
  }
  const nlohmann::json& turns = answer["turns"];
  auto n_turns = static_cast<int>(turns.size());
  if (n_turns < rules.min_turns) {
    return fmt::format("the conversation has {} turns; it needs at least {}", n_turns, rules.min_turns);
  }
  if (n_turns > rules.max_turns) {
    return fmt::format("the conversation has {} turns; it may have at most {}", n_turns, rules.max_turns);
  }
  std::string previous;
  for (int i = 0; i < n_turns; ++i) {
    const nlohmann::json& turn = turns[static_cast<std::size_t>(i)];
    if (!turn.is_object() || !turn.contains("speaker") || !turn["speaker"].is_string() ||
        !turn.contains("text") || !turn["text"].is_string()) {
      return fmt::format("turn {} needs a string \"speaker\" and a string \"text\"", i + 1);
    }
    std::string speaker = turn["speaker"].get<std::string>();
    if (speaker != "doctor" && speaker != "patient") {
      return fmt::format("turn {}: speaker \"{}\" is not allowed; only \"doctor\" and \"patient\" speak",
                         i + 1, speaker);
    }
    if (util::trim(turn["text"].get<std::string>()).empty())
      return fmt::format("turn {}: the text is empty", i + 1);
    if (i == 0 && speaker != "doctor") return "turn 1 is the patient's; the doctor speaks first";
    if (speaker == previous) {
      return fmt::format("turns {} and {} are both the {}'s; the speakers alternate", i, i + 1, speaker);
    }
    previous = speaker;
  }
  return std::nullopt;
}

nlohmann::json normalized_conversation(const nlohmann::json& answer) {
  nlohmann::json turns = nlohmann::json::array();
  for (const auto& turn : answer.at("turns")) {
    turns.push_back({{"speaker", turn.at("speaker")},
                     {"text", std::string(util::trim(turn.at("text").get<std::string>()))}});
  }
  return {{"turns", turns}};
}

ConversationTask::ConversationTask(PromptTemplate prompt, ConversationRules rules)
    : m_prompt(std::move(prompt)), m_rules(rules) {
  if (m_rules.min_turns < 2 || m_rules.max_turns < m_rules.min_turns) {
    fail(ExitCode::usage, "--min-turns {}: must be at least 2 and at most {}", m_rules.min_turns,
         m_rules.max_turns);
  }
}

std::map<std::string, std::string> ConversationTask::values() const {
  return {{"min_turns", std::to_string(m_rules.min_turns)},
          {"max_turns", std::to_string(m_rules.max_turns)},
          {"schema", m_prompt.schema.dump()}};
}

llm::ChatRequest ConversationTask::make_request(std::span<const llm::WorkItem> batch) const {
  if (batch.size() != 1) {
    fail(ExitCode::internal, "the conversation task takes one admission per request, got {}", batch.size());
  }
  std::map<std::string, std::string> placeholders = values();
  // nlohmann::json orders object keys, so the same packet always renders to the same prompt (and ledger key).
  placeholders["packet"] = batch[0].payload.dump();
  return render_request(m_prompt, placeholders);
}

std::string ConversationTask::repair_message(const std::string& problem) const {
  std::map<std::string, std::string> placeholders = values();
  placeholders["problem"] = problem;
  return std::string(util::trim(render(m_prompt.repair, placeholders)));
}

llm::AnswerReading ConversationTask::read_answer(const nlohmann::json& answer,
                                                 std::span<const llm::WorkItem> batch) const {
  llm::AnswerReading reading;
  if (auto problem = conversation_problem(answer, m_rules)) {
    reading.problem = *problem;
    return reading;
  }
  for (const auto& item : batch) reading.results.push_back({item.key, normalized_conversation(answer)});
  return reading;
}

std::int64_t ConversationTask::expected_output_tokens(std::span<const llm::WorkItem> batch) const {
  // About 40 tokens a turn, for a conversation of twice the minimum length.
  return static_cast<std::int64_t>(batch.size()) * (2 * m_rules.min_turns * 40 + 20);
}

}  // namespace medcode::dataset
