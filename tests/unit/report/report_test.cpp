// Tests of the HTML report: a store filled with every kind of row gives a self-contained page whose charts
// all have data; an empty store gives the same charts as "no data yet"; text from the store is escaped.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "medcode/report/report.h"
#include "medcode/store/database.h"
#include "support/medcode_process.h"

namespace medcode {
namespace {

using testing::read_text;
using testing::TempDir;

const std::vector<std::string> k_chart_ids = {"cost-per-model",   "cost-per-entry",   "throughput",
                                              "batch-size",       "tokens-progress",  "tokens-ledger",
                                              "request-outcomes", "latency",          "quality-histogram",
                                              "quality-by-match", "chapter-coverage", "top-categories"};

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
      (NULL, 'bm25', '/data/out/descriptions-to-codes.golden.test.jsonl', 1234, 0.41666, 0.3, 0.25, '{}',
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

TEST(Report, EmptyStoreMarksEveryChartEmpty) {
  TempDir dir;
  store::Database db = store::Database::open(dir / "m.db");
  report::ReportSummary summary = report::write_report(db, {dir / "index.html", ""});
  std::string html = read_text(dir / "index.html");
  EXPECT_EQ(summary.charts, static_cast<int>(k_chart_ids.size()));
  EXPECT_EQ(summary.charts_with_data, 0);
  expect_self_contained(html);
  for (const std::string& id : k_chart_ids) {
    SCOPED_TRACE(id);
    EXPECT_EQ(figure_attribute(html, id, "data-empty"), "true");
    EXPECT_EQ(figure_attribute(html, id, "data-points"), "");
  }
  EXPECT_NE(html.find("No data yet"), std::string::npos);
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
