// Descriptions and facets: prompts rendered from templates, answers read back per item id.
#include "medcode/dataset/llm_tasks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "medcode/util/text.h"

namespace medcode::dataset {

TemplateTask::TemplateTask(PromptTemplate prompt, std::string system_display_name)
    : m_prompt(std::move(prompt)), m_system_display_name(std::move(system_display_name)) {}

llm::ChatRequest TemplateTask::make_request(std::span<const llm::WorkItem> batch) const {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& item : batch) items.push_back(item.payload);
  std::map<std::string, std::string> placeholders = values();
  placeholders["system"] = m_system_display_name;
  placeholders["schema"] = m_prompt.schema.dump();
  placeholders["items"] = items.dump();
  return render_request(m_prompt, placeholders);
}

std::string TemplateTask::repair_message(const std::string& problem) const {
  return std::string(util::trim(render(m_prompt.repair, {{"problem", problem}})));
}

llm::AnswerReading TemplateTask::read_answer(const nlohmann::json& answer,
                                             std::span<const llm::WorkItem> batch) const {
  llm::AnswerReading reading;
  std::set<std::string> wanted;
  for (const auto& item : batch) wanted.insert(item.key);
  std::set<std::string> seen;
  std::vector<std::string> problems;
  for (const auto& entry : answer.at("items")) {
    std::string id(util::trim(entry.at("id").get<std::string>()));
    if (!wanted.count(id)) {
      problems.push_back(fmt::format("id '{}' is not in ITEMS", id));
      continue;
    }
    if (!seen.insert(id).second) continue;  // a repeated id: the first entry counts
    std::string problem;
    auto value = read_item(entry, problem);
    if (!value) {
      problems.push_back(fmt::format("{}: {}", id, problem));
      continue;
    }
    reading.results.push_back({id, std::move(*value)});
  }
  // An answer that gives nothing usable is repaired; one that covers part of the batch is kept, and the
  // items it missed go into a later batch.
  if (reading.results.empty()) {
    reading.problem = problems.empty() ? "the answer has no entry for any id in ITEMS"
                                       : fmt::format("{}", fmt::join(problems, "; "));
  }
  return reading;
}

DescriptionsTask::DescriptionsTask(PromptTemplate prompt, std::string system_display_name, int count)
    : TemplateTask(std::move(prompt), std::move(system_display_name)), m_count(count) {}

std::map<std::string, std::string> DescriptionsTask::values() const {
  return {{"count", std::to_string(m_count)}};
}

std::optional<nlohmann::json> DescriptionsTask::read_item(const nlohmann::json& entry,
                                                          std::string& problem) const {
  nlohmann::json value = nlohmann::json::object();
  std::set<std::string> seen;
  for (const char* kind : {"clinical", "lay"}) {
    nlohmann::json texts = nlohmann::json::array();
    for (const auto& text : entry.at(kind)) {
      std::string cleaned = util::collapse_whitespace(text.get<std::string>());
      if (cleaned.size() < 3 || !seen.insert(util::to_lower(cleaned)).second) continue;
      if (static_cast<int>(texts.size()) < m_count) texts.push_back(cleaned);
    }
    value[kind] = texts;
  }
  if (value["clinical"].empty() && value["lay"].empty()) {
    problem = "no usable description";
    return std::nullopt;
  }
  return value;
}

std::int64_t DescriptionsTask::expected_output_tokens(std::span<const llm::WorkItem> batch) const {
  // About 20 tokens a description, two kinds, plus the JSON around each item.
  return static_cast<std::int64_t>(batch.size()) * (2 * m_count * 20 + 15) + 10;
}

std::optional<nlohmann::json> FacetsTask::read_item(const nlohmann::json& entry, std::string&) const {
  nlohmann::json value = entry;
  value.erase("id");
  return value;
}

std::int64_t FacetsTask::expected_output_tokens(std::span<const llm::WorkItem> batch) const {
  return static_cast<std::int64_t>(batch.size()) * 110 + 10;
}

}  // namespace medcode::dataset
