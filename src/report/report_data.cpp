// Reads what the report shows from the store: the ledger (with each model's throughput and spend over time),
// metrics, batch-size history, entries, scores, code chapters, evaluations (with the figures of their result
// JSON) and runs. Every query is read-only; tables that are still empty give empty series.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <set>
#include <tuple>

#include "medcode/util/text.h"
#include "report_data.h"

namespace medcode::report {

namespace {

constexpr int k_top_categories = 20;
constexpr int k_runs_shown = 100;
constexpr int k_evaluations_shown = 100;

std::string model_label(const std::string& labels_json) {
  nlohmann::json labels = nlohmann::json::parse(labels_json, nullptr, false);
  if (labels.is_object() && labels.contains("model") && labels["model"].is_string())
    return labels["model"].get<std::string>();
  return "(no model)";
}

// Progress metrics restart at zero in each run; adding the last value of the model's earlier runs turns them
// into one curve that only grows, which is what "done so far" means to the reader.
TimeSeries cumulative_metric(store::Database& db, const char* name) {
  store::Statement select = db.prepare(
      "SELECT coalesce(run_id, 0), labels, value, recorded_at FROM metrics WHERE name = ? "
      "ORDER BY recorded_at, id");
  select.bind(1, name);
  std::map<std::string, std::map<std::int64_t, double>> last_by_run;
  TimeSeries series;
  while (select.step()) {
    std::optional<double> time = parse_utc_time(select.column_text(3));
    if (!time) continue;
    std::string model = model_label(select.column_text(1));
    auto& runs = last_by_run[model];
    runs[select.column_int64(0)] = select.column_double(2);
    double total = 0;
    for (const auto& [run, value] : runs) total += value;
    series[model].push_back({*time, total});
  }
  return series;
}

TimeSeries batch_sizes(store::Database& db) {
  store::Statement select =
      db.prepare("SELECT model, batch_size, recorded_at FROM batch_size_history ORDER BY recorded_at, id");
  TimeSeries series;
  while (select.step()) {
    std::optional<double> time = parse_utc_time(select.column_text(2));
    if (time) series[select.column_text(0)].push_back({*time, select.column_double(1)});
  }
  return series;
}

TimeSeries ledger_tokens(store::Database& db) {
  store::Statement select = db.prepare(
      "SELECT r.model, a.tokens_in + a.tokens_out, a.finished_at FROM llm_attempts a JOIN llm_requests r ON "
      "r.id = a.request_id WHERE a.finished_at IS NOT NULL ORDER BY a.finished_at, a.id");
  TimeSeries series;
  std::map<std::string, double> totals;
  while (select.step()) {
    std::optional<double> time = parse_utc_time(select.column_text(2));
    if (!time) continue;
    std::string model = select.column_text(0);
    totals[model] += select.column_double(1);
    series[model].push_back({*time, totals[model]});
  }
  return series;
}

// Every finished attempt, for the throughput figures and the cost over time.
struct FinishedAttempt {
  AttemptSpan span;
  double cost_usd = 0;
};

std::vector<FinishedAttempt> finished_attempts(store::Database& db) {
  store::Statement select = db.prepare(
      "SELECT r.model, r.n_items, a.status, a.started_at, a.finished_at, a.latency_ms, a.cost_usd "
      "FROM llm_attempts a JOIN llm_requests r ON r.id = a.request_id WHERE a.finished_at IS NOT NULL "
      "ORDER BY a.finished_at, a.id");
  std::vector<FinishedAttempt> out;
  while (select.step()) {
    std::optional<double> started = parse_utc_time(select.column_text(3));
    std::optional<double> finished = parse_utc_time(select.column_text(4));
    if (!started || !finished) continue;
    FinishedAttempt attempt;
    attempt.span.model = select.column_text(0);
    attempt.span.n_items = select.column_int64(1);
    attempt.span.answered = select.column_text(2) == "done";
    attempt.span.started = *started;
    attempt.span.finished = *finished;
    if (!select.column_is_null(5)) attempt.span.latency_ms = select.column_double(5);
    attempt.cost_usd = select.column_double(6);
    out.push_back(std::move(attempt));
  }
  return out;
}

// Cumulative spend of each model, and of all of them together when there are several (with one model the
// total would only draw over its line).
TimeSeries cost_over_time(const std::vector<FinishedAttempt>& attempts) {
  std::vector<const FinishedAttempt*> by_time;
  for (const FinishedAttempt& attempt : attempts) by_time.push_back(&attempt);
  std::stable_sort(by_time.begin(), by_time.end(), [](const FinishedAttempt* a, const FinishedAttempt* b) {
    return a->span.finished < b->span.finished;
  });
  TimeSeries series;
  std::map<std::string, double> totals;
  std::vector<TimePoint> all;
  double total = 0;
  for (const FinishedAttempt* attempt : by_time) {
    double& spent = totals[attempt->span.model];
    spent += attempt->cost_usd;
    total += attempt->cost_usd;
    series[attempt->span.model].push_back({attempt->span.finished, spent});
    all.push_back({attempt->span.finished, total});
  }
  if (series.size() > 1) series[k_all_models] = std::move(all);
  return series;
}

void read_throughput(store::Database& db, ReportData& data) {
  std::vector<FinishedAttempt> attempts = finished_attempts(db);
  data.cost_over_time = cost_over_time(attempts);
  std::vector<AttemptSpan> spans;
  for (const FinishedAttempt& attempt : attempts) spans.push_back(attempt.span);
  std::map<std::string, ModelThroughput> throughput;
  for (ModelThroughput& model : model_throughput(spans)) {
    if (!model.windows.empty()) data.items_per_second[model.model] = model.windows;
    throughput[model.model] = std::move(model);
  }
  // Rows for the models of the ledger, with the totals the cost table already summed.
  store::Statement models = db.prepare("SELECT DISTINCT model FROM llm_requests ORDER BY model");
  while (models.step()) {
    ModelAggregates row;
    row.model = models.column_text(0);
    for (const ModelCost& cost : data.model_costs) {
      if (cost.model != row.model) continue;
      row.requests = cost.requests;
      row.tokens_in = cost.tokens_in;
      row.tokens_out = cost.tokens_out;
      row.cost_usd = cost.cost_usd;
    }
    row.throughput = throughput[row.model];
    row.throughput.model = row.model;
    auto history = data.batch_size.find(row.model);
    if (history != data.batch_size.end() && !history->second.empty())
      row.last_batch_size = static_cast<std::int64_t>(history->second.back().value);
    data.model_aggregates.push_back(std::move(row));
  }
  data.llm_used = !data.model_aggregates.empty() || !data.items_done.empty() ||
                  !data.tokens_out_metrics.empty() || !data.batch_size.empty();
}

Totals totals(store::Database& db) {
  Totals out;
  store::Statement entries = db.prepare(
      "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT source_system, source_code FROM "
      "dataset_entries)) FROM dataset_entries");
  if (entries.step()) {
    out.entries = entries.column_int64(0);
    out.codes_covered = entries.column_int64(1);
  }
  // Summed over attempts: a request sent twice was paid twice.
  store::Statement ledger = db.prepare(
      "SELECT count(DISTINCT request_id), count(*), total(cost_usd), total(tokens_in), total(tokens_out), "
      "total(CASE WHEN status = 'lost' THEN reserved_usd END) FROM llm_attempts");
  if (ledger.step()) {
    out.requests = ledger.column_int64(0);
    out.attempts = ledger.column_int64(1);
    out.cost_usd = ledger.column_double(2);
    out.tokens_in = ledger.column_int64(3);
    out.tokens_out = ledger.column_int64(4);
    out.lost_usd = ledger.column_double(5);
  }
  store::Statement runs = db.prepare("SELECT count(*), total(status = 'interrupted') FROM runs");
  if (runs.step()) {
    out.runs = runs.column_int64(0);
    out.interrupted_runs = runs.column_int64(1);
  }
  return out;
}

// A model appears when it sent requests or wrote entries ('cms' writes entries for free).
std::vector<ModelCost> model_costs(store::Database& db) {
  std::map<std::string, ModelCost> by_model;
  store::Statement ledger = db.prepare(
      "SELECT r.model, count(DISTINCT a.request_id), total(a.tokens_in), total(a.tokens_out), total(a.cost_usd) "
      "FROM llm_attempts a JOIN llm_requests r ON r.id = a.request_id GROUP BY r.model");
  while (ledger.step()) {
    ModelCost& cost = by_model[ledger.column_text(0)];
    cost.requests = ledger.column_int64(1);
    cost.tokens_in = ledger.column_int64(2);
    cost.tokens_out = ledger.column_int64(3);
    cost.cost_usd = ledger.column_double(4);
  }
  store::Statement entries = db.prepare("SELECT model, count(*) FROM dataset_entries GROUP BY model");
  while (entries.step()) by_model[entries.column_text(0)].entries = entries.column_int64(1);
  std::vector<ModelCost> out;
  for (auto& [model, cost] : by_model) {
    cost.model = model;
    out.push_back(cost);
  }
  return out;
}

std::vector<RequestOutcomes> outcomes(store::Database& db) {
  store::Statement select = db.prepare(
      "SELECT model, total(status = 'done'), total(status IN ('invalid', 'truncated')), total(status = 'failed'), "
      "total(status = 'in_flight'), total(status = 'interrupted') FROM llm_requests GROUP BY model ORDER BY model");
  std::vector<RequestOutcomes> out;
  while (select.step()) {
    out.push_back({select.column_text(0), select.column_int64(1), select.column_int64(2),
                   select.column_int64(3), select.column_int64(4), select.column_int64(5)});
  }
  return out;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double fraction) {
  auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

std::vector<Latency> latencies(store::Database& db) {
  store::Statement select = db.prepare(
      "SELECT r.model, a.latency_ms FROM llm_attempts a JOIN llm_requests r ON r.id = a.request_id "
      "WHERE a.latency_ms IS NOT NULL ORDER BY r.model, a.latency_ms");
  std::map<std::string, std::vector<double>> by_model;
  while (select.step()) by_model[select.column_text(0)].push_back(select.column_double(1));
  std::vector<Latency> out;
  for (const auto& [model, values] : by_model) {
    out.push_back({model, static_cast<std::int64_t>(values.size()), percentile(values, 0.5),
                   percentile(values, 0.9), percentile(values, 0.99)});
  }
  return out;
}

void read_scores(store::Database& db, ReportData& data) {
  store::Statement bins = db.prepare(
      "SELECT min(CAST(score * ? AS INTEGER), ? - 1), count(*) FROM entry_scores GROUP BY 1 ORDER BY 1");
  bins.bind_all(k_score_bins, k_score_bins);
  while (bins.step()) {
    std::int64_t bin = std::clamp<std::int64_t>(bins.column_int64(0), 0, k_score_bins - 1);
    data.score_bins[static_cast<std::size_t>(bin)] += bins.column_int64(1);
  }
  store::Statement matches = db.prepare(
      "SELECT match, count(*), avg(score) FROM entry_scores GROUP BY match "
      "ORDER BY CASE match WHEN 'exact' THEN 0 WHEN 'ranked' THEN 1 WHEN 'partial' THEN 2 ELSE 3 END");
  while (matches.step()) {
    data.match_quality.push_back({matches.column_text(0), matches.column_int64(1), matches.column_double(2)});
  }
}

// Chapters of the newest ICD-10-CM release; entries count under the chapter their code has in the release
// they were generated from.
void read_chapters(store::Database& db, ReportData& data) {
  store::Statement release =
      db.prepare("SELECT id, year FROM releases WHERE system = 'icd10cm' ORDER BY year DESC LIMIT 1");
  if (!release.step()) return;
  std::int64_t release_id = release.column_int64(0);
  data.chapter_release = "ICD-10-CM " + std::to_string(release.column_int64(1));

  store::Statement chapters = db.prepare(
      "SELECT g.key, g.description, "
      "  (SELECT count(*) FROM codes c WHERE c.release_id = g.release_id AND c.chapter = g.key "
      "   AND c.billable = 1) "
      "FROM code_groups g WHERE g.release_id = ? AND g.kind = 'chapter' ORDER BY g.seq");
  chapters.bind(1, release_id);
  std::map<std::string, std::size_t> index;
  while (chapters.step()) {
    index[chapters.column_text(0)] = data.chapters.size();
    data.chapters.push_back(
        {chapters.column_text(0), chapters.column_text(1), 0, 0, chapters.column_int64(2)});
  }
  store::Statement entries = db.prepare(
      "SELECT c.chapter, count(*), count(DISTINCT e.source_code) FROM dataset_entries e "
      "JOIN releases r ON r.system = e.source_system AND r.year = e.source_year "
      "JOIN codes c ON c.release_id = r.id AND c.code = e.source_code "
      "WHERE e.source_system = 'icd10cm' AND c.chapter IS NOT NULL GROUP BY c.chapter");
  while (entries.step()) {
    auto found = index.find(entries.column_text(0));
    if (found == index.end()) continue;
    data.chapters[found->second].entries = entries.column_int64(1);
    data.chapters[found->second].codes_covered = entries.column_int64(2);
  }
}

void read_categories(store::Database& db, ReportData& data) {
  store::Statement select = db.prepare(
      "SELECT substr(e.source_code, 1, 3) AS category, count(*), count(DISTINCT e.source_code), "
      "  (SELECT c.description FROM releases r JOIN codes c ON c.release_id = r.id "
      "   WHERE r.system = e.source_system AND c.code = substr(e.source_code, 1, 3) "
      "   ORDER BY r.year DESC LIMIT 1) "
      "FROM dataset_entries e GROUP BY e.source_system, category "
      "ORDER BY count(*) DESC, category LIMIT ?");
  select.bind(1, k_top_categories);
  while (select.step()) {
    data.top_categories.push_back({select.column_text(0), select.column_optional_text(3).value_or(""),
                                   select.column_int64(1), select.column_int64(2)});
  }
}

void read_evaluations(store::Database& db, ReportData& data) {
  store::Statement select = db.prepare(
      "SELECT id, coder, dataset, n_examples, micro_f1, macro_f1, exact_match, created_at FROM evaluations "
      "ORDER BY id DESC LIMIT ?");
  select.bind(1, k_evaluations_shown);
  while (select.step()) {
    data.evaluations.push_back({select.column_int64(0), select.column_text(1), select.column_text(2),
                                select.column_int64(3), select.column_double(4), select.column_double(5),
                                select.column_double(6), select.column_text(7)});
  }
}

// The member `key` of a JSON object; a null value when `object` is not one or lacks it.
const nlohmann::json& member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json k_null;
  if (!object.is_object()) return k_null;
  auto found = object.find(key);
  return found == object.end() ? k_null : *found;
}

std::optional<double> number(const nlohmann::json& value) {
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

// A share read from a result: a number in [0, 1], else nothing.
std::optional<double> share(const nlohmann::json& value) {
  std::optional<double> out = number(value);
  if (out && !(*out >= 0 && *out <= 1)) return std::nullopt;
  return out;
}

// P@k and R@k of `at_k` (a list of {k, precision, recall}) at one k.
std::pair<std::optional<double>, std::optional<double>> at_k(const nlohmann::json& rows, std::int64_t k) {
  if (!rows.is_array()) return {};
  for (const auto& row : rows) {
    if (number(member(row, "k")) == static_cast<double>(k))
      return {share(member(row, "precision")), share(member(row, "recall"))};
  }
  return {};
}

// The curve's points in order of k; points that are not {k, precision, recall} with shares are left out.
std::vector<CurvePoint> curve_points(const nlohmann::json& rows) {
  std::vector<CurvePoint> points;
  if (!rows.is_array()) return points;
  for (const auto& row : rows) {
    const nlohmann::json& k = member(row, "k");
    std::optional<double> precision = share(member(row, "precision"));
    std::optional<double> recall = share(member(row, "recall"));
    if (k.is_number_integer() && precision && recall)
      points.push_back({k.get<std::int64_t>(), *precision, *recall});
  }
  std::stable_sort(points.begin(), points.end(),
                   [](const CurvePoint& a, const CurvePoint& b) { return a.k < b.k; });
  return points;
}

// The figures of an evaluation's stored result JSON. A result that does not parse (or an older one) leaves
// its figures unset rather than failing the report.
void read_result(const std::string& result_json, CoderScores& scores) {
  nlohmann::json result = nlohmann::json::parse(result_json, nullptr, false);
  if (!result.is_object()) return;
  if (member(result, "task").is_string()) scores.task = member(result, "task").get<std::string>();
  const nlohmann::json& micro = member(result, "micro");
  scores.micro_precision = share(member(micro, "precision"));
  scores.micro_recall = share(member(micro, "recall"));
  scores.map = share(member(result, "map"));
  std::tie(scores.precision_at_8, scores.recall_at_8) = at_k(member(result, "at_k"), 8);
  scores.pr_curve = curve_points(member(result, "pr_curve"));
}

// The newest evaluation of each (dataset, task, coder), grouped here rather than in SQL so that a malformed
// result JSON only empties its own row's cells (SQLite's json_extract would fail the whole query).
void read_coder_scores(store::Database& db, ReportData& data) {
  store::Statement select =
      db.prepare("SELECT id, coder, dataset, n_examples, micro_f1, result FROM evaluations ORDER BY id DESC");
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  while (select.step()) {
    CoderScores scores;
    scores.id = select.column_int64(0);
    scores.coder = select.column_text(1);
    scores.dataset = select.column_text(2);
    scores.n_examples = select.column_int64(3);
    scores.micro_f1 = select.column_double(4);
    read_result(select.column_optional_text(5).value_or(""), scores);
    if (seen.emplace(scores.dataset, scores.task, scores.coder).second)
      data.coder_scores.push_back(std::move(scores));
  }
  std::stable_sort(data.coder_scores.begin(), data.coder_scores.end(),
                   [](const CoderScores& a, const CoderScores& b) {
                     if (a.dataset != b.dataset) return a.dataset < b.dataset;
                     if (a.task != b.task) return a.task < b.task;
                     if (a.micro_f1 != b.micro_f1) return a.micro_f1 > b.micro_f1;
                     return a.coder < b.coder;
                   });
  const CoderScores* newest = nullptr;
  for (const CoderScores& scores : data.coder_scores) {
    if (!scores.pr_curve.empty() && (!newest || scores.id > newest->id)) newest = &scores;
  }
  for (std::size_t i = 0; newest && i < data.coder_scores.size(); ++i) {
    const CoderScores& scores = data.coder_scores[i];
    if (scores.dataset == newest->dataset && scores.task == newest->task && !scores.pr_curve.empty())
      data.pr_curve_coders.push_back(i);
  }
}

void read_runs(store::Database& db, ReportData& data) {
  store::Statement select = db.prepare(
      "SELECT id, command, argv, started_at, finished_at, status, exit_code, error, counters FROM runs "
      "ORDER BY id DESC LIMIT ?");
  select.bind(1, k_runs_shown);
  while (select.step()) {
    RunRow row;
    row.id = select.column_int64(0);
    row.command = select.column_text(1);
    row.argv = select.column_text(2);
    row.started_at = select.column_text(3);
    row.finished_at = select.column_optional_text(4).value_or("");
    row.status = select.column_text(5);
    if (!select.column_is_null(6)) row.exit_code = select.column_int64(6);
    row.error = select.column_optional_text(7).value_or("");
    row.counters = select.column_text(8);
    data.runs.push_back(std::move(row));
  }
  data.runs_not_shown =
      std::max<std::int64_t>(0, data.totals.runs - static_cast<std::int64_t>(data.runs.size()));
}

void read_exports(store::Database& db, ReportData& data) {
  store::Statement select = db.prepare(
      "SELECT path, format, dtype, architecture, adapter, bytes, sha256, exported_at FROM model_exports "
      "ORDER BY exported_at DESC, id LIMIT 50");
  while (select.step()) {
    ExportRow row;
    row.path = select.column_text(0);
    row.format = select.column_text(1);
    row.dtype = select.column_text(2);
    row.architecture = select.column_text(3);
    row.adapter = select.column_optional_text(4).value_or("");
    row.bytes = select.column_int64(5);
    row.sha256 = select.column_text(6);
    row.exported_at = select.column_text(7);
    data.exports.push_back(std::move(row));
  }
}

}  // namespace

std::optional<double> parse_utc_time(const std::string& text) {
  std::tm utc{};
  char separator = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                  &separator, &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &consumed) != 7 ||
      (separator != 'T' && separator != ' ')) {
    return std::nullopt;
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return static_cast<double>(timegm(&utc));
}

ReportData collect_report_data(store::Database& db) {
  ReportData data;
  data.store_name = db.path().filename().string();
  data.generated_at = util::utc_now_iso8601();
  data.totals = totals(db);
  data.model_costs = model_costs(db);
  data.items_done = cumulative_metric(db, "generate.items_done");
  data.tokens_out_metrics = cumulative_metric(db, "generate.tokens_out");
  data.batch_size = batch_sizes(db);
  data.tokens_ledger = ledger_tokens(db);
  read_throughput(db, data);
  data.outcomes = outcomes(db);
  data.latencies = latencies(db);
  read_scores(db, data);
  read_chapters(db, data);
  read_categories(db, data);
  read_evaluations(db, data);
  read_coder_scores(db, data);
  read_runs(db, data);
  read_exports(db, data);
  return data;
}

}  // namespace medcode::report
