// The llm:MODEL document coder: the index's candidates per note, one engine run for a set of notes, and the
// model's picks turned into a ranking with evidence.
#include "medcode/eval/llm_coder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <unordered_map>

#include "medcode/llm/engine_outcome.h"
#include "medcode/llm/prompt_template.h"
#include "medcode/util/error.h"
#include "medcode/util/parallel.h"

namespace medcode::eval {

namespace {

struct NoteCounts {
  std::int64_t picks = 0;
  std::int64_t outside = 0;
  std::int64_t quotes_not_found = 0;
};

// One note's prediction: the model's picks first (when it answered), then the index's other candidates.
Prediction assemble(std::string_view note, const std::vector<Candidate>& candidates,
                    const nlohmann::json* answer, std::size_t top_k, std::size_t k, NoteCounts& counts) {
  std::unordered_map<std::string, const Candidate*> by_code;
  for (const Candidate& candidate : candidates) by_code.emplace(candidate.code, &candidate);
  Prediction prediction;
  if (answer) {
    for (const auto& pick : answer->at("picks")) {
      const Candidate& candidate = *by_code.at(pick.at("code").get<std::string>());
      std::vector<Evidence> evidence = locate_quote(note, pick.at("quote").get<std::string>());
      if (evidence.empty()) {
        ++counts.quotes_not_found;
        evidence = candidate.evidence;
      }
      prediction.ranked.push_back({candidate.code, 0, std::move(evidence)});
      by_code.erase(candidate.code);
    }
    counts.picks += static_cast<std::int64_t>(prediction.ranked.size());
    counts.outside += static_cast<std::int64_t>(answer->at("outside").size());
  }
  prediction.n_predicted = prediction.ranked.size();
  if (top_k > 0) prediction.n_predicted = std::min(prediction.n_predicted, top_k);
  for (const Candidate& candidate : candidates) {
    if (by_code.count(candidate.code)) prediction.ranked.push_back({candidate.code, 0, candidate.evidence});
  }
  prediction.ranked.resize(std::min(prediction.ranked.size(), std::max(k, prediction.n_predicted)));
  for (std::size_t i = 0; i < prediction.ranked.size(); ++i)
    prediction.ranked[i].score = 1.0 / static_cast<double>(i + 1);
  return prediction;
}

}  // namespace

std::unique_ptr<LlmCoder> LlmCoder::open(store::Database& db, const codes::ReleaseInfo& release,
                                         const std::string& model_name, LlmCoderOptions options) {
  if (model_name.empty())
    fail(ExitCode::usage,
         "coder llm:: name a configured model after llm: (see `medcode generate --list-models`)");
  if (options.shortlist == 0)
    fail(ExitCode::usage, "coder llm:{}: the shortlist needs at least one code", model_name);
  // Its instructions are a diagnosis coder's (config/prompts/code-note.yaml).
  if (release.system != codes::System::icd10cm)
    fail(ExitCode::usage, "coder llm:{}: codes diagnoses (ICD-10-CM), not {}", model_name,
         codes::system_display_name(release.system));
  std::optional<llm::ModelRegistry> builtin;
  if (!options.models) builtin = llm::ModelRegistry::defaults();
  llm::ModelConfig model = (options.models ? *options.models : *builtin).get(model_name);
  IndexCoderOptions index_options;
  index_options.threads = options.threads;
  std::unique_ptr<IndexCoder> index = IndexCoder::open(db, release, index_options);
  NoteCodingTask task(llm::load_prompt_template("code-note", std::nullopt), release.system);
  return std::unique_ptr<LlmCoder>(
      new LlmCoder(db, std::move(index), std::move(model), std::move(task), std::move(options)));
}

LlmCoder::LlmCoder(store::Database& db, std::unique_ptr<IndexCoder> index, llm::ModelConfig model,
                   NoteCodingTask task, LlmCoderOptions options)
    : m_db(db),
      m_index(std::move(index)),
      m_model(std::move(model)),
      m_task(std::move(task)),
      m_options(std::move(options)) {
  m_options.models = nullptr;  // only open() reads it; the registry need not outlive the coder
}

std::vector<std::vector<Candidate>> LlmCoder::find_candidates(const std::vector<std::string>& texts) const {
  std::vector<std::vector<Candidate>> candidates(texts.size());
  util::parallel_for(texts.size(), m_options.threads,
                     [&](std::size_t i) { candidates[i] = m_index->candidates(texts[i]); });
  return candidates;
}

std::vector<Candidate> LlmCoder::shortlist_of(const std::vector<Candidate>& candidates) const {
  std::size_t n = std::min(candidates.size(), m_options.shortlist);
  return {candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(n)};
}

llm::EngineOptions LlmCoder::engine_options() const {
  llm::EngineOptions options = m_options.engine;
  options.fixed_batch_size = 1;
  if (options.max_cost_usd) {
    std::lock_guard lock(m_mutex);
    options.max_cost_usd = std::max(0.0, *options.max_cost_usd - m_totals.cost_usd);
  }
  return options;
}

std::vector<Prediction> LlmCoder::predict_many(const std::vector<std::string>& texts, std::size_t k) const {
  std::vector<std::vector<Candidate>> candidates = find_candidates(texts);
  llm::ModelWork work{&m_model, {}};
  std::vector<std::optional<std::string>> key_of(texts.size());
  std::unordered_map<std::string_view, std::string> first_of;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (candidates[i].empty()) continue;
    auto [at, inserted] = first_of.emplace(texts[i], std::to_string(i));
    key_of[i] = at->second;
    if (inserted) work.items.push_back({at->second, note_payload(texts[i], shortlist_of(candidates[i]))});
  }
  const std::size_t n_items = work.items.size();

  std::map<std::string, nlohmann::json> answers;
  llm::ResultSink on_results = [&](const std::string&, std::int64_t,
                                   const std::vector<llm::ItemResult>& results) {
    for (const auto& result : results) answers[result.key] = result.value;
  };
  // Nothing to record: a note without an answer is sent again by the next run.
  llm::FailureSink on_failure = [](const std::string&, const std::vector<std::string>&, const std::string&) {
  };
  llm::EngineResult result;
  if (n_items > 0) {
    std::vector<llm::ModelWork> all_work;
    all_work.push_back(std::move(work));
    result = llm::run_engine(m_db, m_task, std::move(all_work), on_results, on_failure, engine_options());
  }

  LlmCoderTotals totals;
  {
    std::lock_guard lock(m_mutex);
    m_totals.notes += static_cast<std::int64_t>(texts.size());
    m_totals.notes_without_answer += static_cast<std::int64_t>(n_items - answers.size());
    for (const auto& model : result.models) {
      m_totals.requests += model.requests_sent;
      m_totals.requests_cached += model.requests_cached;
      m_totals.repairs += model.repairs;
      m_totals.tokens_in += model.tokens_in;
      m_totals.tokens_out += model.tokens_out;
      m_totals.cost_usd += model.cost_usd;
    }
    totals = m_totals;
  }
  spdlog::info(
      "{}: {} notes so far, {} requests sent ({} answered from the ledger, {} repairs), {} tokens in, "
      "{} out, ${:.4f}",
      name(), totals.notes, totals.requests, totals.requests_cached, totals.repairs, totals.tokens_in,
      totals.tokens_out, totals.cost_usd);
  llm::EngineVerdict verdict = llm::judge_engine_result(result, "notes");
  for (const std::string& warning : verdict.warnings) spdlog::warn("{}", warning);
  if (verdict.code != ExitCode::ok)
    throw Error(verdict.code, fmt::format("{}", fmt::join(verdict.errors, "; ")));

  std::vector<Prediction> predictions;
  predictions.reserve(texts.size());
  NoteCounts counts;
  std::int64_t without_shortlist = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const nlohmann::json* answer = nullptr;
    if (!key_of[i])
      ++without_shortlist;
    else if (auto at = answers.find(*key_of[i]); at != answers.end())
      answer = &at->second;
    predictions.push_back(assemble(texts[i], candidates[i], answer, m_options.top_k, k, counts));
  }
  std::lock_guard lock(m_mutex);
  m_totals.notes_without_shortlist += without_shortlist;
  m_totals.picks += counts.picks;
  m_totals.picks_outside_shortlist += counts.outside;
  m_totals.quotes_not_found += counts.quotes_not_found;
  return predictions;
}

Prediction LlmCoder::predict(std::string_view text, std::size_t k) const {
  return predict_many({std::string(text)}, k).front();
}

std::vector<RankedCode> LlmCoder::code(std::string_view text, std::size_t k) const {
  std::vector<RankedCode> ranked = predict(text, k).ranked;
  if (ranked.size() > k) ranked.resize(k);
  return ranked;
}

llm::ModelPlan LlmCoder::plan(const std::vector<std::string>& texts) const {
  std::vector<std::vector<Candidate>> candidates = find_candidates(texts);
  llm::ModelWork work{&m_model, {}};
  std::unordered_map<std::string_view, bool> seen;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (!candidates[i].empty() && seen.emplace(texts[i], true).second)
      work.items.push_back({std::to_string(i), note_payload(texts[i], shortlist_of(candidates[i]))});
  }
  std::vector<llm::ModelWork> all_work;
  all_work.push_back(std::move(work));
  return llm::plan_engine(m_db, m_task, all_work, engine_options()).front();
}

LlmCoderTotals LlmCoder::totals() const {
  std::lock_guard lock(m_mutex);
  return m_totals;
}

}  // namespace medcode::eval
