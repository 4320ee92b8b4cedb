// Round-trip scoring: each entry's text goes to a coder blind, and the answer is scored against the code the
// text was written for. Retrieval scores are written in transactions of a few thousand and a model's with
// each answer, so a killed run keeps them.
#include "medcode/dataset/score.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "medcode/codes/catalog.h"
#include "medcode/dataset/recode_task.h"
#include "medcode/eval/make_coder.h"
#include "medcode/store/job_lock.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::dataset {

namespace {

constexpr std::size_t k_batch = 2000;  // scores per transaction

constexpr std::string_view k_llm_prefix = "llm:";

bool is_llm_coder(const std::string& coder) { return coder.rfind(k_llm_prefix, 0) == 0; }

std::string category_of(const std::string& code) {
  return code.substr(0, std::min<std::size_t>(3, code.size()));
}

struct EntryRow {
  std::int64_t id = 0;
  std::string text;
  std::string system;
  int year = 0;
  std::string code;
};

std::vector<EntryRow> load_entries(store::Database& db, const std::optional<std::string>& task,
                                   const std::optional<std::string>& unscored_by) {
  std::string sql = "SELECT id, text, source_system, source_year, source_code FROM dataset_entries e WHERE 1";
  if (task) sql += " AND task = ?1";
  if (unscored_by)
    sql += " AND NOT EXISTS (SELECT 1 FROM entry_scores s WHERE s.entry_id = e.id AND s.coder = ?2)";
  sql += " ORDER BY id";
  auto statement = db.prepare(sql);
  if (task) statement.bind(1, *task);
  if (unscored_by) statement.bind(2, *unscored_by);
  std::vector<EntryRow> rows;
  while (statement.step()) {
    rows.push_back({statement.column_int64(0), statement.column_text(1), statement.column_text(2),
                    static_cast<int>(statement.column_int64(3)), statement.column_text(4)});
  }
  return rows;
}

// What scoring needs of a release: its coders and each code's parent and billable flag.
struct ReleaseContext {
  codes::ReleaseInfo release;
  std::unordered_map<std::string, std::pair<std::optional<std::string>, bool>> codes;  // parent, billable
  std::map<std::string, std::unique_ptr<eval::Coder>> coders;
};

ReleaseContext& context_for(store::Database& db,
                            std::map<std::pair<std::string, int>, ReleaseContext>& contexts,
                            const std::string& system, int year) {
  auto key = std::make_pair(system, year);
  auto it = contexts.find(key);
  if (it != contexts.end()) return it->second;
  auto release = codes::try_find_release(db, codes::require_system(system), year);
  if (!release)
    fail(ExitCode::bad_input, "entries of {} {} have no release in the store to score against", system, year);
  ReleaseContext context;
  context.release = *release;
  auto statement = db.prepare("SELECT code, parent, billable FROM codes WHERE release_id = ?");
  statement.bind(1, release->id);
  while (statement.step()) {
    context.codes.emplace(statement.column_text(0),
                          std::make_pair(statement.column_optional_text(1), statement.column_int64(2) != 0));
  }
  return contexts.emplace(key, std::move(context)).first->second;
}

const eval::Coder& coder_for(store::Database& db, ReleaseContext& context, const std::string& name) {
  auto it = context.coders.find(name);
  if (it == context.coders.end()) {
    it = context.coders.emplace(name, eval::make_coder(db, context.release, name)).first;
  }
  return *it->second;
}

nlohmann::json answer_json(const std::vector<eval::RankedCode>& answer) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& ranked : answer) out.push_back({{"code", ranked.code}, {"score", ranked.score}});
  return out;
}

store::Statement prepare_insert(store::Database& db) {
  return db.prepare(
      "INSERT OR REPLACE INTO entry_scores (entry_id, coder, score, match, source_rank, answer, run_id, "
      "scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
}

void write_score(store::Statement& insert, const EntryRow& entry, const ReleaseContext& context,
                 const std::string& coder_name, const std::vector<eval::RankedCode>& answer,
                 const ScoreOptions& options, const std::string& now) {
  auto found = context.codes.find(entry.code);
  std::optional<std::string> parent = found != context.codes.end() ? found->second.first : std::nullopt;
  RoundTripScore result = score_answer(entry.code, parent, answer, options.top_k);
  insert.bind_all(entry.id, coder_name, result.score, std::string(match_name(result.match)),
                  result.source_rank, answer_json(answer).dump(), options.run_id, now);
  insert.run();
}

std::int64_t score_with(store::Database& db, const std::string& coder_name,
                        const std::vector<EntryRow>& entries,
                        std::map<std::pair<std::string, int>, ReleaseContext>& contexts,
                        const ScoreOptions& options) {
  auto insert = prepare_insert(db);
  std::int64_t scored = 0;
  for (std::size_t begin = 0; begin < entries.size(); begin += k_batch) {
    std::size_t end = std::min(entries.size(), begin + k_batch);
    store::Transaction transaction(db);
    std::string now = util::utc_now_iso8601();
    // Runs of entries of one release are coded together, so a batching coder sees them at once.
    for (std::size_t i = begin; i < end;) {
      const EntryRow& first = entries[i];
      ReleaseContext& context = context_for(db, contexts, first.system, first.year);
      std::size_t run_end = i;
      std::vector<std::string> texts;
      while (run_end < end && entries[run_end].system == first.system && entries[run_end].year == first.year)
        texts.push_back(entries[run_end++].text);
      std::vector<std::vector<eval::RankedCode>> answers =
          coder_for(db, context, coder_name).code_many(texts, options.top_k);
      for (std::size_t j = i; j < run_end; ++j) {
        write_score(insert, entries[j], context, coder_name, answers[j - i], options, now);
        ++scored;
      }
      i = run_end;
    }
    transaction.commit();
    util::report(options.progress, "score " + coder_name, end, entries.size());
  }
  return scored;
}

// Fills in the statistics over every score `summary.coder` holds (of `task`, when given).
void summarize(store::Database& db, const std::optional<std::string>& task, CoderSummary& summary) {
  const std::string& coder = summary.coder;
  summary.histogram.assign(10, 0);
  std::string sql =
      "SELECT s.score, s.match FROM entry_scores s JOIN dataset_entries e ON e.id = s.entry_id WHERE s.coder "
      "= ?1";
  if (task) sql += " AND e.task = ?2";
  auto statement = db.prepare(sql);
  statement.bind(1, coder);
  if (task) statement.bind(2, *task);
  double total = 0;
  std::int64_t n = 0;
  while (statement.step()) {
    double score = statement.column_double(0);
    std::string match = statement.column_text(1);
    total += score;
    ++n;
    summary.histogram[std::min<std::size_t>(9, static_cast<std::size_t>(score * 10))]++;
    if (match == "exact") ++summary.exact;
    if (match == "ranked") ++summary.ranked;
    if (match == "partial") ++summary.partial;
    if (match == "none") ++summary.none;
  }
  summary.mean_score = n > 0 ? total / static_cast<double>(n) : 0;
}

// A model's ranked codes as an answer: scored 1/rank, as a model gives no score of its own.
std::vector<eval::RankedCode> ranked_answer(const nlohmann::json& codes) {
  std::vector<eval::RankedCode> answer;
  for (std::size_t i = 0; i < codes.size(); ++i) {
    answer.push_back({codes[i].get<std::string>(), 1.0 / static_cast<double>(i + 1)});
  }
  return answer;
}

void add_progress(CoderSummary& summary, const llm::EngineResult& result) {
  for (const auto& model : result.models) {
    summary.requests += model.requests_sent + model.requests_cached;
    summary.requests_failed += model.requests_failed;
    summary.items_failed += model.items_failed;
    summary.cost_usd += model.cost_usd;
    if (model.last_error) summary.last_error = model.last_error;
    if (model.fatal_error) summary.fatal_error = model.fatal_error;
  }
  if (result.budget_exhausted) summary.budget_exhausted = true;
}

// Re-codes `entries` with the model of an llm:<model> coder, one engine run per release (the valid codes and
// the prompt's code system are the release's). Entries with no valid answer stay unscored, so a later run
// sends them again. `spent_usd` carries the cost across coders so the cap holds for the whole command.
std::int64_t score_with_llm(store::Database& db, const std::string& coder_name,
                            const std::vector<EntryRow>& entries,
                            std::map<std::pair<std::string, int>, ReleaseContext>& contexts,
                            const ScoreOptions& options, double& spent_usd, CoderSummary& summary) {
  const llm::ModelConfig& model = options.registry->get(coder_name.substr(k_llm_prefix.size()));
  std::map<std::pair<std::string, int>, std::vector<const EntryRow*>> by_release;
  for (const auto& entry : entries) by_release[{entry.system, entry.year}].push_back(&entry);
  auto insert = prepare_insert(db);
  std::int64_t scored = 0;
  for (const auto& [release_key, group] : by_release) {
    if (summary.fatal_error || summary.budget_exhausted) break;
    const ReleaseContext& context = context_for(db, contexts, release_key.first, release_key.second);
    std::unordered_set<std::string> billable;
    for (const auto& [code, info] : context.codes) {
      if (info.second) billable.insert(code);
    }
    RecodeTask task(load_prompt_template("recode", std::nullopt), context.release.system, options.top_k,
                    std::move(billable));
    std::unordered_map<std::string, const EntryRow*> by_key;
    llm::ModelWork work{&model, {}};
    for (const EntryRow* entry : group) {
      std::string key = std::to_string(entry->id);
      by_key.emplace(key, entry);
      work.items.push_back({key, {{"id", key}, {"text", entry->text}}});
    }
    llm::ResultSink on_results = [&](const std::string&, std::int64_t,
                                     const std::vector<llm::ItemResult>& results) {
      std::string now = util::utc_now_iso8601();
      for (const auto& result : results) {
        write_score(insert, *by_key.at(result.key), context, coder_name,
                    ranked_answer(result.value.at("codes")), options, now);
        summary.invalid_codes += result.value.at("invalid").get<std::int64_t>();
        ++scored;
      }
      util::report(options.progress, "score " + coder_name, static_cast<std::size_t>(scored), entries.size());
    };
    // Nothing to record: an entry without a score is simply sent again by the next run.
    llm::FailureSink on_failure = [](const std::string&, const std::vector<std::string>&,
                                     const std::string&) {};
    llm::EngineOptions engine_options;
    if (options.max_cost_usd) engine_options.max_cost_usd = std::max(0.0, *options.max_cost_usd - spent_usd);
    engine_options.use_cache = options.use_cache;
    engine_options.run_id = options.run_id;
    engine_options.progress = options.engine_progress;
    engine_options.seed = options.engine_seed;
    std::vector<llm::ModelWork> all_work;
    all_work.push_back(std::move(work));
    llm::EngineResult result =
        llm::run_engine(db, task, std::move(all_work), on_results, on_failure, engine_options);
    spent_usd += result.cost_usd;
    add_progress(summary, result);
  }
  return scored;
}

void check_coders(const ScoreOptions& options) {
  if (options.coders.empty()) fail(ExitCode::usage, "--coder: at least one coder is needed");
  for (const auto& coder : options.coders) {
    if (coder == "bm25" || coder == "bm25+terms") continue;
    if (coder.rfind(eval::k_model_coder_prefix, 0) == 0) {
      if (coder.size() == eval::k_model_coder_prefix.size())
        fail(ExitCode::usage, "--coder {}: name a model folder after model:", coder);
      model::model_stack();  // the plugin is opened before any coder scores: without it nothing is written
      continue;
    }
    if (!is_llm_coder(coder))
      fail(ExitCode::usage, "--coder {}: unknown coder (bm25, bm25+terms, llm:<model>, model:<dir>)", coder);
    std::string model = coder.substr(k_llm_prefix.size());
    if (model.empty()) fail(ExitCode::usage, "--coder {}: name a configured model after llm:", coder);
    if (!options.registry)
      fail(ExitCode::usage, "--coder {}: no model configuration to find the model in", coder);
    options.registry->get(model);  // Error(usage) listing the configured models
  }
}

}  // namespace

const char* match_name(MatchKind kind) {
  switch (kind) {
    case MatchKind::exact:
      return "exact";
    case MatchKind::ranked:
      return "ranked";
    case MatchKind::partial:
      return "partial";
    case MatchKind::none:
      return "none";
  }
  return "none";
}

RoundTripScore score_answer(const std::string& source_code, const std::optional<std::string>& source_parent,
                            const std::vector<eval::RankedCode>& answer, std::size_t k) {
  RoundTripScore result;
  const double span = static_cast<double>(std::max<std::size_t>(k, 3));
  for (std::size_t i = 0; i < answer.size(); ++i) {
    if (answer[i].code != source_code) continue;
    result.source_rank = static_cast<int>(i + 1);
    if (i == 0) {
      result.score = 1.0;
      result.match = MatchKind::exact;
    } else {
      result.score = 0.9 - 0.2 * static_cast<double>(i - 1) / (span - 2);
      result.match = MatchKind::ranked;
    }
    return result;
  }
  // Near misses: a sibling under the same parent, else a code of the same category; the higher it ranks, the
  // better.
  const std::string category = category_of(source_code);
  std::optional<double> partial;
  for (std::size_t i = 0; i < answer.size() && !partial; ++i) {
    const std::string& code = answer[i].code;
    bool sibling = source_parent && code.size() > source_parent->size() && code.rfind(*source_parent, 0) == 0;
    if (sibling) partial = 0.7 - 0.1 * static_cast<double>(i) / (span - 1);
  }
  for (std::size_t i = 0; i < answer.size() && !partial; ++i) {
    if (category_of(answer[i].code) == category) partial = 0.6 - 0.1 * static_cast<double>(i) / (span - 1);
  }
  if (partial) {
    result.score = *partial;
    result.match = MatchKind::partial;
    return result;
  }
  bool same_block = std::any_of(answer.begin(), answer.end(), [&](const eval::RankedCode& ranked) {
    return !ranked.code.empty() && !source_code.empty() && ranked.code[0] == source_code[0];
  });
  result.score = same_block ? 0.25 : 0.0;
  return result;
}

ScoreSummary score_entries(store::Database& db, const ScoreOptions& options) {
  auto start = std::chrono::steady_clock::now();
  check_coders(options);
  if (options.top_k < 1 || options.top_k > 100)
    fail(ExitCode::usage, "--top-k {}: must be 1 to 100", options.top_k);
  ScoreSummary summary;
  std::map<std::pair<std::string, int>, ReleaseContext> contexts;
  std::vector<EntryRow> all = load_entries(db, options.task, std::nullopt);
  summary.entries = static_cast<std::int64_t>(all.size());
  if (all.empty()) fail(ExitCode::bad_input, "no dataset entries to score; run `medcode generate` first");
  // One process per llm: coder, taken for all of them before anything is scored. A coder's scores are keyed
  // by entry and coder, so a run over one --task overlaps a run over all tasks: the job is the coder.
  std::vector<std::unique_ptr<store::JobLock>> job_locks;
  for (const auto& coder : options.coders) {
    if (is_llm_coder(coder))
      job_locks.push_back(std::make_unique<store::JobLock>(db, "score", coder, "score --coder " + coder));
  }
  double spent_usd = 0;
  for (const auto& coder : options.coders) {
    std::vector<EntryRow> entries = options.rescore ? all : load_entries(db, options.task, coder);
    CoderSummary coder_summary;
    coder_summary.coder = coder;
    coder_summary.scored =
        is_llm_coder(coder) ? score_with_llm(db, coder, entries, contexts, options, spent_usd, coder_summary)
                            : score_with(db, coder, entries, contexts, options);
    coder_summary.already = summary.entries - static_cast<std::int64_t>(entries.size());
    coder_summary.left = static_cast<std::int64_t>(entries.size()) - coder_summary.scored;
    summarize(db, options.task, coder_summary);
    summary.coders.push_back(std::move(coder_summary));
  }
  summary.quality = check_quality(db, options.task, options.seed);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

nlohmann::json to_json(const QualityReport& quality) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& finding : quality.findings) {
    findings.push_back({{"check", finding.check},
                        {"severity", finding.severity},
                        {"count", finding.count},
                        {"examples", finding.examples}});
  }
  const auto& labels = quality.labels;
  return {{"findings", findings},
          {"labels",
           {{"codes", labels.codes},
            {"entries", labels.entries},
            {"min_per_code", labels.min_per_code},
            {"median_per_code", labels.median_per_code},
            {"max_per_code", labels.max_per_code},
            {"codes_with_one_entry", labels.codes_with_one_entry},
            {"top_10_percent_share", labels.top_10_percent_share}}}};
}

nlohmann::json to_json(const ScoreSummary& summary) {
  nlohmann::json coders = nlohmann::json::array();
  for (const auto& coder : summary.coders) {
    coders.push_back({{"coder", coder.coder},
                      {"scored", coder.scored},
                      {"already_scored", coder.already},
                      {"mean_score", coder.mean_score},
                      {"exact", coder.exact},
                      {"ranked", coder.ranked},
                      {"partial", coder.partial},
                      {"none", coder.none},
                      {"histogram", coder.histogram}});
    if (coder.coder.rfind("llm:", 0) == 0) {
      auto& llm = coders.back();
      llm["left"] = coder.left;
      llm["requests"] = coder.requests;
      llm["requests_failed"] = coder.requests_failed;
      llm["items_failed"] = coder.items_failed;
      llm["invalid_codes"] = coder.invalid_codes;
      llm["cost_usd"] = coder.cost_usd;
      llm["budget_exhausted"] = coder.budget_exhausted;
      if (coder.fatal_error) llm["fatal_error"] = *coder.fatal_error;
    }
  }
  return {{"entries", summary.entries},
          {"coders", coders},
          {"quality", to_json(summary.quality)},
          {"seconds", summary.seconds}};
}

}  // namespace medcode::dataset
