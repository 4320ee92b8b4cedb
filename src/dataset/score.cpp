// Round-trip scoring: each entry's text goes to a coder blind, and the answer is scored against the code the
// text was written for. Scores are written in transactions of a few thousand, so a killed run keeps them.
#include "medcode/dataset/score.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>

#include "medcode/codes/catalog.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::dataset {

namespace {

constexpr std::size_t k_batch = 2000;  // scores per transaction

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
  std::map<std::string, std::unique_ptr<Coder>> coders;
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

const Coder& coder_for(store::Database& db, ReleaseContext& context, const std::string& name) {
  auto it = context.coders.find(name);
  if (it == context.coders.end())
    it = context.coders.emplace(name, make_retrieval_coder(db, context.release, name)).first;
  return *it->second;
}

nlohmann::json answer_json(const std::vector<RankedCode>& answer) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& ranked : answer) out.push_back({{"code", ranked.code}, {"score", ranked.score}});
  return out;
}

std::int64_t score_with(store::Database& db, const std::string& coder_name,
                        const std::vector<EntryRow>& entries,
                        std::map<std::pair<std::string, int>, ReleaseContext>& contexts,
                        const ScoreOptions& options) {
  auto insert = db.prepare(
      "INSERT OR REPLACE INTO entry_scores (entry_id, coder, score, match, source_rank, answer, run_id, "
      "scored_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  std::int64_t scored = 0;
  for (std::size_t begin = 0; begin < entries.size(); begin += k_batch) {
    std::size_t end = std::min(entries.size(), begin + k_batch);
    store::Transaction transaction(db);
    std::string now = util::utc_now_iso8601();
    for (std::size_t i = begin; i < end; ++i) {
      const EntryRow& entry = entries[i];
      ReleaseContext& context = context_for(db, contexts, entry.system, entry.year);
      std::vector<RankedCode> answer = coder_for(db, context, coder_name).code(entry.text, options.top_k);
      auto found = context.codes.find(entry.code);
      std::optional<std::string> parent = found != context.codes.end() ? found->second.first : std::nullopt;
      RoundTripScore result = score_answer(entry.code, parent, answer, options.top_k);
      insert.bind_all(entry.id, coder_name, result.score, std::string(match_name(result.match)),
                      result.source_rank, answer_json(answer).dump(), options.run_id, now);
      insert.run();
      ++scored;
    }
    transaction.commit();
    util::report(options.progress, "score " + coder_name, end, entries.size());
  }
  return scored;
}

CoderSummary summarize(store::Database& db, const std::string& coder,
                       const std::optional<std::string>& task) {
  CoderSummary summary;
  summary.coder = coder;
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
  return summary;
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
                            const std::vector<RankedCode>& answer, std::size_t k) {
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
  bool same_block = std::any_of(answer.begin(), answer.end(), [&](const RankedCode& ranked) {
    return !ranked.code.empty() && !source_code.empty() && ranked.code[0] == source_code[0];
  });
  result.score = same_block ? 0.25 : 0.0;
  return result;
}

ScoreSummary score_entries(store::Database& db, const ScoreOptions& options) {
  auto start = std::chrono::steady_clock::now();
  if (options.coders.empty()) fail(ExitCode::usage, "--coder: at least one coder is needed");
  for (const auto& coder : options.coders) {
    if (coder != "bm25" && coder != "bm25+terms") {
      fail(ExitCode::usage, "--coder {}: unknown coder (bm25, bm25+terms)", coder);
    }
  }
  if (options.top_k < 1 || options.top_k > 100)
    fail(ExitCode::usage, "--top-k {}: must be 1 to 100", options.top_k);
  ScoreSummary summary;
  std::map<std::pair<std::string, int>, ReleaseContext> contexts;
  std::vector<EntryRow> all = load_entries(db, options.task, std::nullopt);
  summary.entries = static_cast<std::int64_t>(all.size());
  if (all.empty()) fail(ExitCode::bad_input, "no dataset entries to score; run `medcode generate` first");
  for (const auto& coder : options.coders) {
    std::vector<EntryRow> entries = options.rescore ? all : load_entries(db, options.task, coder);
    std::int64_t scored = score_with(db, coder, entries, contexts, options);
    CoderSummary coder_summary = summarize(db, coder, options.task);
    coder_summary.scored = scored;
    coder_summary.already = summary.entries - scored;
    summary.coders.push_back(std::move(coder_summary));
  }
  summary.quality = check_quality(db, options.task, options.seed);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace medcode::dataset
