// The `recode` task: answers read back as ranked codes, canonical and checked against the release.
#include "medcode/dataset/recode_task.h"

#include <fmt/format.h>

#include <set>

namespace medcode::dataset {

RecodeTask::RecodeTask(PromptTemplate prompt, codes::System system, std::size_t count,
                       std::unordered_set<std::string> valid_codes)
    : TemplateTask(std::move(prompt), std::string(codes::system_display_name(system))),
      m_system(system),
      m_count(count),
      m_valid_codes(std::move(valid_codes)) {}

std::map<std::string, std::string> RecodeTask::values() const { return {{"count", std::to_string(m_count)}}; }

std::optional<nlohmann::json> RecodeTask::read_item(const nlohmann::json& entry, std::string& problem) const {
  nlohmann::json codes = nlohmann::json::array();
  std::int64_t invalid = 0;
  std::set<std::string> seen;
  for (const auto& text : entry.at("codes")) {
    auto code = codes::canonical_code(m_system, text.get<std::string>());
    if (!code || !m_valid_codes.count(*code)) {
      ++invalid;
      continue;
    }
    // A repeat keeps its first rank; codes past the limit are ignored rather than failing the answer.
    if (!seen.insert(*code).second || codes.size() >= m_count) continue;
    codes.push_back(*code);
  }
  if (codes.empty()) {
    problem = fmt::format("none of the codes is a billable {} code", m_system_display_name);
    return std::nullopt;
  }
  return nlohmann::json{{"codes", std::move(codes)}, {"invalid", invalid}};
}

std::int64_t RecodeTask::expected_output_tokens(std::span<const llm::WorkItem> batch) const {
  // About 5 tokens a code with its quotes, plus the JSON around each item.
  return static_cast<std::int64_t>(batch.size()) * (static_cast<std::int64_t>(m_count) * 5 + 15) + 10;
}

}  // namespace medcode::dataset
