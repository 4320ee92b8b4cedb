// Tests of the HTML report: a store filled with every kind of row gives a self-contained page whose charts
// all have data; an empty store gives its charts as "no data yet", with the LLM panels folded into one line;
// text from the store is escaped.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "medcode/report/report.h"
#include "medcode/store/database.h"
#include "support/medcode_process.h"

namespace medcode {
namespace {

using testing::read_text;
using testing::TempDir;

const std::vector<std::string> k_chart_ids = {
    "cost-per-model",    "cost-per-entry",   "throughput",       "items-per-second", "batch-size",
    "tokens-progress",   "tokens-ledger",    "cost-over-time",   "request-outcomes", "latency",
    "quality-histogram", "quality-by-match", "chapter-coverage", "top-categories",   "pr-curve"};
// The charts only LLM activity fills: without any they fold into one line.
const std::set<std::string> k_llm_chart_ids = {"throughput",       "items-per-second", "batch-size",
                                               "tokens-progress",  "tokens-ledger",    "cost-over-time",
                                               "request-outcomes", "latency"};

const std::string k_hostile_model = "<script>alert('x')</script>";

// Every table the report reads, with a model whose name would run as script if it were not escaped.
void fill_store(store::Database& db) {
  db.exec(R"sql(
    INSERT INTO runs (id, command, argv, version, started_at, finished_at, status, exit_code, counters) VALUES
      (1, 'import icd10cm', '["medcode","import","icd10cm"]', '0.1.0', '2026-01-05T09:00:00Z',
       '2026-01-05T09:01:00Z', 'ok', 0, '{"codes":5}'),
      (2, 'generate', '["medcode","generate","--api-key","***"]', '0.1.0', '2026-01-05T10:00:00Z',
       '2026-01-05T10:05:00Z', 'ok', 0, '{"entries":6,"cost_usd":0.0125,"models":[1,2]}'),
      (3, 'generate', '["medcode","generate"]', '0.1.0', '2026-01-05T11:00:00Z',
       '2026-01-05T11:02:00Z', 'failed', 4, '{}');
    INSERT INTO releases (id, system, year, imported_at, n_codes, n_billable) VALUES
      (1, 'icd10cm', 2023, '2026-01-05T09:01:00Z', 5, 4);
    INSERT INTO code_groups (release_id, kind, key, description, seq) VALUES
      (1, 'chapter', '4', 'Endocrine, nutritional and metabolic diseases (E00-E89)', 1),
      (1, 'chapter', '9', 'Diseases of the circulatory system (I00-I99)', 2);
    INSERT INTO codes (release_id, code, chapter, description, billable) VALUES
      (1, 'E11', '4', 'Type 2 diabetes mellitus', 0),
      (1, 'E11.9', '4', 'Type 2 diabetes mellitus without complications', 1),
      (1, 'E11.65', '4', 'Type 2 diabetes mellitus with hyperglycemia', 1),
      (1, 'I10', '9', 'Essential (primary) hypertension', 1),
      (1, 'I21.9', '9', 'Acute myocardial infarction, unspecified', 1);
    INSERT INTO metrics (run_id, name, value, labels, recorded_at) VALUES
      (2, 'generate.items_done', 2, '{"model":"fast"}', '2026-01-05T10:01:00Z'),
      (2, 'generate.items_done', 5, '{"model":"fast"}', '2026-01-05T10:02:00Z'),
      (2, 'generate.tokens_out', 300, '{"model":"fast"}', '2026-01-05T10:01:00Z'),
      (2, 'generate.tokens_out', 900, '{"model":"fast"}', '2026-01-05T10:02:00Z'),
      (3, 'generate.items_done', 1, '{"model":"fast"}', '2026-01-05T11:01:00Z');
    INSERT INTO batch_size_history (run_id, model, batch_size, concurrency, reason, recorded_at) VALUES
      (2, 'fast', 8, 2, 'start', '2026-01-05T10:00:00Z'),
      (2, 'fast', 16, 2, 'grow', '2026-01-05T10:02:00Z');
  )sql");
  store::Statement request = db.prepare(
      "INSERT INTO llm_requests (request_key, model, provider, model_id, task, status, prompt, tokens_in, "
      "tokens_out, cost_usd, latency_ms, created_at, finished_at, run_id) "
      "VALUES (?, ?, 'openai', 'm', 'descriptions', ?, '{}', ?, ?, ?, ?, ?, ?, 2)");
  request.bind_all("k1", "fast", "done", 1000, 400, 0.004, 850.0, "2026-01-05T10:00:10Z",
                   "2026-01-05T10:00:11Z");
  request.run();
  request.bind_all("k2", "fast", "invalid", 900, 350, 0.0035, 1200.0, "2026-01-05T10:01:10Z",
                   "2026-01-05T10:01:11Z");
  request.run();
  request.bind_all("k3", k_hostile_model, "failed", 800, 0, 0.001, 3000.0, "2026-01-05T10:02:10Z",
                   "2026-01-05T10:02:13Z");
  request.run();
  // One attempt per request, as the engine records them.
  db.exec(
      "INSERT INTO llm_attempts (request_id, attempt, run_id, status, tokens_in, tokens_out, cost_usd, latency_ms, "
      "started_at, finished_at) SELECT id, 1, run_id, status, tokens_in, tokens_out, cost_usd, latency_ms, "
      "created_at, finished_at FROM llm_requests");
  store::Statement entry = db.prepare(
      "INSERT INTO dataset_entries (id, task, kind, text, source_system, source_year, source_code, model, "
      "created_at) VALUES (?, 'descriptions', 'clinical', ?, 'icd10cm', 2023, ?, ?, '2026-01-05T10:01:00Z')");
  const std::vector<std::tuple<int, std::string, std::string>> entries = {
      {1, "E11.9", "fast"}, {2, "E11.9", "fast"}, {3, "E11.65", "fast"},
      {4, "I10", "fast"},   {5, "I10", "cms"},    {6, "I21.9", k_hostile_model}};
  for (const auto& [id, code, model] : entries) {
    entry.bind_all(id, "text <b>" + std::to_string(id) + "</b>", code, model);
    entry.run();
  }
  db.exec(R"sql(
    INSERT INTO entry_scores (entry_id, coder, score, match, answer, scored_at) VALUES
      (1, 'bm25', 1.0, 'exact', '[]', '2026-01-05T12:00:00Z'),
      (2, 'bm25', 0.8, 'ranked', '[]', '2026-01-05T12:00:00Z'),
      (3, 'bm25', 0.55, 'partial', '[]', '2026-01-05T12:00:00Z'),
      (4, 'bm25', 0.1, 'none', '[]', '2026-01-05T12:00:00Z');
    INSERT INTO evaluations (run_id, coder, dataset, n_examples, micro_f1, macro_f1, exact_match, result,
                             created_at) VALUES
      (NULL, 'bm25', '/data/out/descriptions-to-codes.golden.test.jsonl', 1234, 0.41666, 0.3, 0.25,
       '{"micro":{"precision":0.5,"recall":0.357},"map":0.6,"at_k":[{"k":1,"precision":0.5,"recall":0.357}],
         "pr_curve":[{"k":1,"precision":0.5,"recall":0.357},{"k":2,"precision":0.3,"recall":0.5}]}',
       '2026-01-05T13:00:00Z'),
      (NULL, 'majority', '/data/out/<b>.jsonl', 10, 0.1, 0.01, 0.1, '{}', '2026-01-05T13:05:00Z');
  )sql");
}

// The value of `attribute` on the <figure> with `id`; "" when the figure or attribute is missing.
std::string figure_attribute(const std::string& html, const std::string& id, const std::string& attribute) {
  std::regex figure("<figure class=\"chart\" id=\"" + id + "\"([^>]*)>");
  std::smatch match;
  if (!std::regex_search(html, match, figure)) return "";
  std::regex value(attribute + "=\"([^\"]*)\"");
  std::smatch found;
  std::string attributes = match[1];
  return std::regex_search(attributes, found, value) ? found[1].str() : "";
}

void expect_self_contained(const std::string& html) {
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
}

TEST(Report, FilledStoreGivesASelfContainedPageWhoseChartsAllHaveData) {
  TempDir dir;
  store::Database db = store::Database::open(dir / "m.db");
  fill_store(db);
  report::ReportSummary summary = report::write_report(db, {dir / "out" / "index.html", "Nightly <run>"});

  std::string html = read_text(dir / "out" / "index.html");
  EXPECT_EQ(summary.path, dir / "out" / "index.html");
  EXPECT_EQ(summary.bytes, static_cast<std::int64_t>(html.size()));
  EXPECT_EQ(summary.charts, static_cast<int>(k_chart_ids.size()));
  EXPECT_EQ(summary.charts_with_data, summary.charts);
  expect_self_contained(html);
  for (const std::string& id : k_chart_ids) {
    SCOPED_TRACE(id);
    EXPECT_EQ(figure_attribute(html, id, "data-empty"), "");
    std::string points = figure_attribute(html, id, "data-points");
    ASSERT_FALSE(points.empty());
    EXPECT_GT(std::stoi(points), 0);
  }
  EXPECT_NE(html.find("<title>Nightly &lt;run&gt;</title>"), std::string::npos);
  EXPECT_EQ(figure_attribute(html, "throughput", "data-points"), "3");
  EXPECT_EQ(figure_attribute(html, "quality-histogram", "data-points"), "4");
  EXPECT_EQ(figure_attribute(html, "request-outcomes", "data-points"), "6");  // 2 models × 3 outcomes
}

TEST(Report, RunsTableShowsEachRunWithItsCommandLineAndCounters) {
  TempDir dir;
  store::Database db = store::Database::open(dir / "m.db");
  fill_store(db);
  report::write_report(db, {dir / "index.html", ""});
  std::string html = read_text(dir / "index.html");
  EXPECT_NE(html.find("<td title=\"medcode generate --api-key ***\">generate</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"counters\">cost_usd=0.0125, entries=6, models=[2 items]</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"status-failed\">failed</td><td class=\"num\">4</td>"), std::string::npos);
}

TEST(Report, CostSumsEveryAttemptAndShowsLostAnswersAndInterruptedRuns) {
  TempDir dir;
  store::Database db = store::Database::open(dir / "m.db");
  fill_store(db);
  // k1 was sent again and paid again ($0.002), and an attempt of k2 timed out with $0.01 reserved.
  db.exec(
      "INSERT INTO llm_attempts (request_id, attempt, run_id, status, tokens_in, tokens_out, cost_usd, "
      "reserved_usd, started_at, finished_at) VALUES "
      "((SELECT id FROM llm_requests WHERE request_key = 'k1'), 2, 2, 'done', 500, 200, 0.002, 0.003, "
      "'2026-01-05T10:03:00Z', '2026-01-05T10:03:01Z'), "
      "((SELECT id FROM llm_requests WHERE request_key = 'k2'), 2, 2, 'lost', 0, 0, 0, 0.01, "
      "'2026-01-05T10:03:00Z', '2026-01-05T10:03:30Z');"
      "INSERT INTO runs (id, command, argv, version, started_at, finished_at, status, error, pid, host) VALUES "
      "(4, 'generate', '[\"medcode\",\"generate\"]', '0.1.0', '2026-01-05T12:00:00Z', '2026-01-05T12:30:00Z', "
      "'interrupted', 'process 4242 ended without closing the run', 4242, 'h');");
  report::write_report(db, {dir / "index.html", ""});
  std::string html = read_text(dir / "index.html");
  // Model fast: $0.004 + $0.0035 + $0.002 (the request k1 paid twice).
  EXPECT_NE(html.find("<td class=\"num\">$0.009500</td>"), std::string::npos);
  EXPECT_NE(html.find("<div class=\"label\">Lost answers (may be billed)</div><div class=\"number\">$0.01</div>"),
            std::string::npos);
  EXPECT_NE(html.find("<div class=\"label\">LLM requests</div><div class=\"number\">3 (5 attempts)</div>"),
            std::string::npos);
  EXPECT_NE(html.find("<div class=\"label\">Interrupted runs</div><div class=\"number\">1</div>"),
            std::string::npos);
  EXPECT_NE(html.find("class=\"status-interrupted\"><span title=\"process 4242 ended without closing the run\">"),
            std::string::npos);
}

TEST(Report, ProgressMetricsAddUpAcrossRuns) {
  TempDir dir;
  store::Database db = store::Database::open(dir / "m.db");
  fill_store(db);
  report::write_report(db, {dir / "index.html", ""});
  std::string html = read_text(dir / "index.html");
  // Run 2 ended at 5 items and run 3 did 1 more: the curve reaches 6, not back down to 1.
  EXPECT_NE(html.find("fast · 2026-01-05 11:01:00 UTC: 6</title>"), std::string::npos);
}

TEST(Report, ProjectsTheCostPerEntryToEachDatasetSize) {
  TempDir dir;
  store::Database db = store::Database::open(dir / "m.db");
  fill_store(db);
  report::write_report(db, {dir / "index.html", "", {2000, 20000}});
  std::string html = read_text(dir / "index.html");
  // fast: $0.0075 over 4 entries = $0.001875 each; $3.75 for 2000 entries and $37.50 for 20000.
  EXPECT_NE(html.find("<th class=\"num\">2000 entries</th><th class=\"num\">20k entries</th>"),
            std::string::npos);
  EXPECT_NE(
      html.find("<td class=\"num\">$0.001875</td><td class=\"num\">$3.75</td><td class=\"num\">$37.50</td>"),
      std::string::npos);
}

TEST(Report, EmptyStoreMarksEveryChartEmptyAndFoldsTheLlmPanels) {
  TempDir dir;
  store::Database db = store::Database::open(dir / "m.db");
  report::ReportSummary summary = report::write_report(db, {dir / "index.html", ""});
  std::string html = read_text(dir / "index.html");
  EXPECT_EQ(summary.charts, static_cast<int>(k_chart_ids.size() - k_llm_chart_ids.size()));
  EXPECT_EQ(summary.charts_with_data, 0);
  expect_self_contained(html);
  for (const std::string& id : k_chart_ids) {
    SCOPED_TRACE(id);
    if (k_llm_chart_ids.count(id) > 0) {
      EXPECT_EQ(html.find("<figure class=\"chart\" id=\"" + id + "\""), std::string::npos);
    } else {
      EXPECT_EQ(figure_attribute(html, id, "data-empty"), "true");
      EXPECT_EQ(figure_attribute(html, id, "data-points"), "");
    }
  }
  // One placeholder per chart still on the page, and one line for the LLM panels.
  std::regex placeholder(">No data yet</text>");
  EXPECT_EQ(
      std::distance(std::sregex_iterator(html.begin(), html.end(), placeholder), std::sregex_iterator()),
      summary.charts);
  EXPECT_NE(html.find("id=\"llm-folded\">No LLM requests yet: generate with <code>--model</code>"),
            std::string::npos);
  EXPECT_NE(html.find("<title>medcode report</title>"), std::string::npos);
}

TEST(Report, EscapesTextFromTheStore) {
  TempDir dir;
  store::Database db = store::Database::open(dir / "m.db");
  fill_store(db);
  report::write_report(db, {dir / "index.html", ""});
  std::string html = read_text(dir / "index.html");
  EXPECT_EQ(html.find(k_hostile_model), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
}

TEST(Report, ListsEvaluationsNewestFirstWithTheirHeadlineFigures) {
  TempDir dir;
  store::Database db = store::Database::open_in_memory();
  fill_store(db);
  report::write_report(db, {dir / "index.html", ""});
  std::string html = read_text(dir / "index.html");
  std::size_t table = html.find("<table id=\"evaluations-table\">");
  ASSERT_NE(table, std::string::npos);
  std::size_t bm25 = html.find(
      "<td>bm25</td><td title=\"/data/out/descriptions-to-codes.golden.test.jsonl\">"
      "descriptions-to-codes.golden.test.jsonl</td><td class=\"num\">1,234</td><td class=\"num\">0.417</td>"
      "<td class=\"num\">0.300</td><td class=\"num\">0.250</td>",
      table);
  std::size_t majority = html.find("<td>majority</td><td title=\"/data/out/&lt;b&gt;.jsonl\">", table);
  EXPECT_NE(bm25, std::string::npos);
  EXPECT_LT(majority, bm25);

  store::Database empty = store::Database::open_in_memory();
  report::write_report(empty, {dir / "empty.html", ""});
  EXPECT_NE(read_text(dir / "empty.html").find("No evaluations yet"), std::string::npos);
}

// A result JSON as evaluate stores it, with the figures the report reads: P@8 and R@8 are half of P and R,
// and the curve has `n_points` points with precision falling from P as recall rises to R.
std::string result_json(double precision, double recall, int n_points, const std::string& task = "") {
  nlohmann::json result = {{"micro", {{"precision", precision}, {"recall", recall}, {"f1", 0}}},
                           {"map", recall / 2},
                           {"at_k",
                            {{{"k", 1}, {"precision", 1}, {"recall", 0}},
                             {{"k", 8}, {"precision", precision / 2}, {"recall", recall / 2}}}}};
  nlohmann::json curve = nlohmann::json::array();
  for (int k = 1; k <= n_points; ++k) {
    curve.push_back({{"k", k}, {"precision", precision / k}, {"recall", recall * k / n_points}});
  }
  if (n_points > 0) result["pr_curve"] = curve;
  if (!task.empty()) result["task"] = task;
  return result.dump();
}

void add_evaluation(store::Database& db, const std::string& coder, const std::string& dataset,
                    double micro_f1, const std::string& result) {
  db.prepare(
        "INSERT INTO evaluations (coder, dataset, n_examples, micro_f1, macro_f1, exact_match, result, "
        "created_at) VALUES (?, ?, 10, ?, 0, 0, ?, '2026-01-05T13:00:00Z')")
      .bind_all(coder, dataset, micro_f1, result)
      .run();
}

// Evaluations of three coders on a.jsonl (bm25 twice, index with a result that is not JSON), one on b.jsonl,
// and one on the procedures of a CodiEsp folder from before results had a curve.
std::string page_with_coder_scores(const TempDir& dir) {
  store::Database db = store::Database::open_in_memory();
  add_evaluation(db, "bm25", "/d/b.jsonl", 0.2, result_json(0.2, 0.2, 20));
  add_evaluation(db, "bm25", "/d/a.jsonl", 0.1, result_json(0.1, 0.1, 20));
  add_evaluation(db, "majority", "/d/a.jsonl", 0.4, result_json(0.5, 0.25, 20));
  add_evaluation(db, "bm25", "/d/a.jsonl", 0.3, result_json(0.25, 0.125, 20));
  add_evaluation(db, "index", "/d/a.jsonl", 0.5, R"({"micro": {"precision": oops)");
  add_evaluation(db, "bm25", "/d/codiesp/dev", 0.05, R"({"task": "P", "micro": {"precision": 0.1}})");
  report::write_report(db, {dir / "index.html", ""});
  return read_text(dir / "index.html");
}

// The rows of the table with `id`, one string each.
std::vector<std::string> table_rows(const std::string& html, const std::string& id) {
  std::size_t start = html.find("<table id=\"" + id + "\">");
  std::size_t end = html.find("</table>", start);
  std::vector<std::string> rows;
  if (start == std::string::npos) return rows;
  for (std::size_t at = html.find("<tr><td", start); at < end; at = html.find("<tr><td", at + 1))
    rows.push_back(html.substr(at, html.find("</tr>", at) - at));
  return rows;
}

TEST(Report, CoderScoresShowTheNewestEvaluationOfEachCoderByDatasetThenMicroF1) {
  TempDir dir;
  std::vector<std::string> rows = table_rows(page_with_coder_scores(dir), "coder-scores");
  ASSERT_EQ(rows.size(), 5U);
  EXPECT_EQ(
      rows[0],
      "<tr><td title=\"/d/a.jsonl\">a.jsonl</td><td>index</td><td class=\"num\">10</td>"
      "<td class=\"num\"></td><td class=\"num\"></td><td class=\"num\">0.500</td><td class=\"num\"></td>"
      "<td class=\"num\"></td><td class=\"num\"></td>");  // a result that is not JSON: only the row's own
  EXPECT_EQ(rows[1],
            "<tr><td title=\"/d/a.jsonl\">a.jsonl</td><td>majority</td><td class=\"num\">10</td>"
            "<td class=\"num\">0.500</td><td class=\"num\">0.250</td><td class=\"num\">0.400</td>"
            "<td class=\"num\">0.125</td><td class=\"num\">0.250</td><td class=\"num\">0.125</td>");
  EXPECT_NE(rows[2].find("<td>bm25</td><td class=\"num\">10</td><td class=\"num\">0.250</td>"),
            std::string::npos);  // the newer of bm25's two
  EXPECT_NE(rows[3].find("<td title=\"/d/b.jsonl\">b.jsonl</td><td>bm25</td>"), std::string::npos);
  EXPECT_EQ(rows[4],
            "<tr><td title=\"/d/codiesp/dev\">dev (CodiEsp-P)</td><td>bm25</td><td class=\"num\">10</td>"
            "<td class=\"num\">0.100</td><td class=\"num\"></td><td class=\"num\">0.050</td>"
            "<td class=\"num\"></td><td class=\"num\"></td><td class=\"num\"></td>");
}

TEST(Report, PrCurveDrawsEachCoderOfTheNewestDatasetWithACurveAndItsOperatingPoint) {
  TempDir dir;
  std::string html = page_with_coder_scores(dir);
  // The newest evaluation with a curve is bm25's second on a.jsonl; index's result has none.
  EXPECT_EQ(figure_attribute(html, "pr-curve", "data-points"), "42");  // 2 coders × (20 points + 1 marker)
  std::size_t figure = html.find("<figure class=\"chart\" id=\"pr-curve\"");
  std::string chart = html.substr(figure, html.find("</figure>", figure) - figure);
  EXPECT_NE(chart.find(": a.jsonl</title>"), std::string::npos);
  EXPECT_NE(chart.find("<title>majority · k = 2: P 0.250, R 0.025</title>"), std::string::npos);
  EXPECT_NE(chart.find("<title>bm25 · k = 5: P 0.050, R 0.031</title>"), std::string::npos);
  EXPECT_NE(chart.find("<title>majority · own threshold: P 0.500, R 0.250</title>"), std::string::npos);
  EXPECT_EQ(chart.find("index"), std::string::npos);
  EXPECT_EQ(chart.find("b.jsonl"), std::string::npos);
  EXPECT_NE(chart.find("<li><span class=\"swatch\""), std::string::npos);  // a legend: two coders

  store::Database old = store::Database::open_in_memory();
  add_evaluation(old, "bm25", "/d/a.jsonl", 0.3, "{}");
  // Points that are not {k, precision, recall} with shares are left out, here all of them.
  add_evaluation(old, "index", "/d/a.jsonl", 0.3,
                 R"({"pr_curve": [{"k": "one", "precision": 0.5, "recall": 0.1},
                                  {"k": 1, "precision": 2, "recall": 0.1}, 7]})");
  report::write_report(old, {dir / "old.html", ""});
  std::string without_curve = read_text(dir / "old.html");
  EXPECT_EQ(figure_attribute(without_curve, "pr-curve", "data-empty"), "true");
  EXPECT_NE(without_curve.find("Filled by medcode evaluate"), std::string::npos);
  EXPECT_EQ(table_rows(without_curve, "coder-scores").size(), 2U);
}

TEST(Report, AnInMemoryStoreCanBeReported) {
  TempDir dir;
  store::Database db = store::Database::open_in_memory();
  fill_store(db);
  report::ReportSummary summary = report::write_report(db, {dir / "index.html", ""});
  EXPECT_EQ(summary.charts_with_data, summary.charts);
}

TEST(Report, ALeftoverTemporaryFileIsNotTheReport) {
  TempDir dir;
  store::Database db = store::Database::open_in_memory();
  report::write_report(db, {dir / "index.html", ""});
  std::set<std::string> names;
  for (const auto& file : std::filesystem::directory_iterator(dir.path()))
    names.insert(file.path().filename());
  EXPECT_EQ(names, std::set<std::string>{"index.html"});
}

}  // namespace
}  // namespace medcode
