// Tests of the report's per-model aggregates, items/s and cost-over-time charts on a store filled by hand
// with ledger and batch-size rows at known times, and of the LLM panels folding into one line without LLM
// activity.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "medcode/report/report.h"
#include "medcode/store/database.h"
#include "report_data.h"
#include "support/medcode_process.h"

namespace medcode {
namespace {

using testing::read_text;
using testing::TempDir;

constexpr double k_ten_o_clock = 1767607200;  // 2026-01-05T10:00:00Z

// The six panels that only LLM activity fills, and the two new ones beside them.
const std::vector<std::string> k_llm_chart_ids = {"throughput",       "items-per-second", "batch-size",
                                                  "tokens-progress",  "tokens-ledger",    "cost-over-time",
                                                  "request-outcomes", "latency"};

// A request of `model` carrying `n_items`, with one attempt from `started` to `finished` (times of day on
// 2026-01-05), 100 tokens in, 50 out and $0.001.
void add_attempt(store::Database& db, const std::string& model, std::int64_t n_items,
                 const std::string& status, const std::string& started, const std::string& finished,
                 double latency_ms) {
  static int key = 0;
  std::string day = "2026-01-05T";
  db.prepare(
        "INSERT INTO llm_requests (request_key, model, provider, model_id, task, status, n_items, prompt, "
        "tokens_in, tokens_out, cost_usd, latency_ms, created_at, finished_at) "
        "VALUES (?, ?, 'openai', 'm', 'descriptions', ?, ?, '{}', 100, 50, 0.001, ?, ?, ?)")
      .bind_all("key" + std::to_string(++key), model, status, n_items, latency_ms, day + started + "Z",
                day + finished + "Z")
      .run();
  db.prepare(
        "INSERT INTO llm_attempts (request_id, attempt, status, tokens_in, tokens_out, cost_usd, latency_ms, "
        "started_at, finished_at) VALUES (last_insert_rowid(), 1, ?, 100, 50, 0.001, ?, ?, ?)")
      .bind_all(status, latency_ms, day + started + "Z", day + finished + "Z")
      .run();
}

// Model fast: 10:00 busy all minute with 30 items (0.5/s); 10:01 busy 40 s with 40 items (1/s); 10:05 busy,
// nothing answered (0/s); 10:06 busy 20 s with 80 items (4/s). 150 items in 180 s: 0.833/s on average.
// Per second of latency, size 10 gave 30 items in 8 s, size 20 40 in 6 s (best), size 40 80 in 4 s but was
// sent only twice. Model slow: one request, 5 items in 50 s.
void fill_ledger(store::Database& db) {
  add_attempt(db, "fast", 10, "done", "10:00:00", "10:00:19", 2000);
  add_attempt(db, "fast", 10, "done", "10:00:20", "10:00:39", 2000);
  add_attempt(db, "fast", 10, "done", "10:00:40", "10:00:59", 2000);
  add_attempt(db, "fast", 20, "done", "10:01:00", "10:01:09", 2000);
  add_attempt(db, "fast", 20, "done", "10:01:10", "10:01:19", 2000);
  add_attempt(db, "fast", 20, "failed", "10:01:20", "10:01:39", 2000);
  add_attempt(db, "fast", 10, "failed", "10:05:00", "10:05:59", 2000);
  add_attempt(db, "fast", 40, "done", "10:06:00", "10:06:09", 2000);
  add_attempt(db, "fast", 40, "done", "10:06:10", "10:06:19", 2000);
  add_attempt(db, "slow", 5, "done", "10:02:00", "10:02:49", 50000);
  db.exec(R"sql(
    INSERT INTO batch_size_history (model, batch_size, concurrency, reason, recorded_at) VALUES
      ('fast', 10, 1, 'start', '2026-01-05T10:00:00Z'),
      ('fast', 20, 1, '3 straight successes', '2026-01-05T10:01:00Z'),
      ('fast', 40, 1, '3 straight successes', '2026-01-05T10:06:00Z');
  )sql");
}

TEST(ReportAggregates, AverageAndPeakAndMinimumItemsPerSecondAndBestBatchSizePerModel) {
  store::Database db = store::Database::open_in_memory();
  fill_ledger(db);
  report::ReportData data = report::collect_report_data(db);
  ASSERT_EQ(data.model_aggregates.size(), 2U);

  const report::ModelAggregates& fast = data.model_aggregates[0];
  EXPECT_EQ(fast.model, "fast");
  EXPECT_EQ(fast.requests, 9);
  EXPECT_EQ(fast.tokens_in, 900);
  EXPECT_EQ(fast.tokens_out, 450);
  EXPECT_NEAR(fast.cost_usd, 0.009, 1e-12);
  EXPECT_EQ(fast.throughput.items, 150);
  EXPECT_DOUBLE_EQ(fast.throughput.busy_seconds, 180);
  EXPECT_DOUBLE_EQ(fast.throughput.average_items_per_second.value(), 150.0 / 180);
  EXPECT_DOUBLE_EQ(fast.throughput.peak_items_per_second.value(), 4);
  EXPECT_DOUBLE_EQ(fast.throughput.minimum_items_per_second.value(), 0);
  ASSERT_TRUE(fast.throughput.best_batch.has_value());
  EXPECT_EQ(fast.throughput.best_batch->batch_size, 20);
  EXPECT_EQ(fast.throughput.best_batch->attempts, 3);
  EXPECT_DOUBLE_EQ(fast.throughput.best_batch->items_per_second, 40.0 / 6);
  EXPECT_EQ(fast.last_batch_size, 40);

  const report::ModelAggregates& slow = data.model_aggregates[1];
  EXPECT_EQ(slow.model, "slow");
  EXPECT_DOUBLE_EQ(slow.throughput.average_items_per_second.value(), 0.1);
  EXPECT_DOUBLE_EQ(slow.throughput.peak_items_per_second.value(), 0.1);
  EXPECT_FALSE(slow.throughput.best_batch.has_value());  // sent once
  EXPECT_FALSE(slow.last_batch_size.has_value());
  EXPECT_TRUE(data.llm_used);
}

TEST(ReportAggregates, ItemsPerSecondSeriesHasAPointPerBusyMinuteAndCostAddsUpWithATotalLine) {
  store::Database db = store::Database::open_in_memory();
  fill_ledger(db);
  report::ReportData data = report::collect_report_data(db);
  const std::vector<report::TimePoint>& fast = data.items_per_second.at("fast");
  ASSERT_EQ(fast.size(), 4U);
  const double expected[][2] = {{0, 0.5}, {60, 1.0}, {300, 0}, {360, 4}};
  for (std::size_t i = 0; i < fast.size(); ++i) {
    EXPECT_DOUBLE_EQ(fast[i].time, k_ten_o_clock + expected[i][0]) << i;
    EXPECT_DOUBLE_EQ(fast[i].value, expected[i][1]) << i;
  }
  EXPECT_EQ(data.items_per_second.at("slow").size(), 1U);

  ASSERT_EQ(data.cost_over_time.size(), 3U);  // fast, slow and all models
  const std::vector<report::TimePoint>& total = data.cost_over_time.at(report::k_all_models);
  ASSERT_EQ(total.size(), 10U);
  EXPECT_NEAR(total.back().value, 0.010, 1e-12);
  EXPECT_DOUBLE_EQ(total.back().time, k_ten_o_clock + 379);  // 10:06:19
  EXPECT_NEAR(data.cost_over_time.at("fast").back().value, 0.009, 1e-12);
  EXPECT_NEAR(data.cost_over_time.at("slow").front().value, 0.001, 1e-12);
  for (std::size_t i = 1; i < total.size(); ++i) EXPECT_GE(total[i].time, total[i - 1].time);

  store::Database one_model = store::Database::open_in_memory();
  add_attempt(one_model, "fast", 10, "done", "10:00:00", "10:00:19", 2000);
  // With one model the total would only draw over its line.
  EXPECT_EQ(report::collect_report_data(one_model).cost_over_time.count(report::k_all_models), 0U);
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

bool has_figure(const std::string& html, const std::string& id) {
  return html.find("<figure class=\"chart\" id=\"" + id + "\"") != std::string::npos;
}

TEST(ReportAggregates, PageShowsTheTableAndBothNewChartsWithTheirCaption) {
  TempDir dir;
  store::Database db = store::Database::open_in_memory();
  fill_ledger(db);
  report::ReportSummary summary = report::write_report(db, {dir / "index.html", ""});
  std::string html = read_text(dir / "index.html");
  std::vector<std::string> rows = table_rows(html, "model-aggregates");
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(
      rows[0],
      "<tr><td>fast</td><td class=\"num\">9</td><td class=\"num\">150</td><td class=\"num\">0.833</td>"
      "<td class=\"num\">4</td><td class=\"num\">0</td><td class=\"num\">900</td><td class=\"num\">450</td>"
      "<td class=\"num\">$0.009000</td><td class=\"num\" title=\"6.67 items/s over 3 requests sent\">20</td>"
      "<td class=\"num\">40</td>");
  EXPECT_EQ(rows[1],
            "<tr><td>slow</td><td class=\"num\">1</td><td class=\"num\">5</td><td class=\"num\">0.1</td>"
            "<td class=\"num\">0.1</td><td class=\"num\">0.1</td><td class=\"num\">100</td><td "
            "class=\"num\">50</td>"
            "<td class=\"num\">$0.001000</td><td class=\"num\">–</td><td class=\"num\">–</td>");
  EXPECT_NE(html.find("<p class=\"note\" id=\"model-aggregates-note\">"), std::string::npos);
  EXPECT_NE(html.find("sent at least 3 times"), std::string::npos);

  EXPECT_NE(html.find("<figure class=\"chart\" id=\"items-per-second\" data-points=\"5\">"),
            std::string::npos);
  EXPECT_NE(html.find("fast · 2026-01-05 10:06:00 UTC: 4</title>"), std::string::npos);
  EXPECT_NE(html.find("<figure class=\"chart\" id=\"cost-over-time\" data-points=\"20\">"),
            std::string::npos);
  EXPECT_NE(html.find("all models · 2026-01-05 10:06:19 UTC: 0.01</title>"), std::string::npos);
  EXPECT_EQ(html.find("id=\"llm-folded\""), std::string::npos);
  for (const std::string& id : k_llm_chart_ids) EXPECT_TRUE(has_figure(html, id)) << id;
  EXPECT_EQ(summary.charts, 15);
}

TEST(ReportAggregates, WithoutLlmActivityTheLlmPanelsFoldIntoOneLine) {
  TempDir dir;
  store::Database db = store::Database::open_in_memory();
  // Entries written for free by CMS text: cost and coverage have something to show, the LLM panels nothing.
  db.exec(
      "INSERT INTO dataset_entries (id, task, kind, text, source_system, source_year, source_code, model, "
      "created_at) VALUES (1, 'cms-terms', 'index_term', 't', 'icd10cm', 2023, 'I10', 'cms', "
      "'2026-01-05T10:00:00Z')");
  report::ReportSummary summary = report::write_report(db, {dir / "index.html", ""});
  std::string html = read_text(dir / "index.html");
  const std::string folded =
      "<p class=\"folded\" id=\"llm-folded\">No LLM requests yet: generate with <code>--model</code> to see "
      "throughput, batch sizes, tokens and cost.</p>";
  EXPECT_NE(html.find(folded), std::string::npos);
  for (const std::string& id : k_llm_chart_ids) EXPECT_FALSE(has_figure(html, id)) << id;
  EXPECT_EQ(html.find("<table id=\"model-aggregates\">"), std::string::npos);
  EXPECT_EQ(html.find("<table id=\"outcome-rates\">"), std::string::npos);
  EXPECT_TRUE(has_figure(html, "cost-per-model"));
  EXPECT_EQ(summary.charts, 7);  // 13 before the fold, less its six

  // LLM metrics alone (a ledger since cleared) still deserve their charts.
  db.exec(
      "INSERT INTO metrics (name, value, labels, recorded_at) VALUES ('generate.items_done', 3, "
      "'{\"model\":\"fast\"}', '2026-01-05T10:01:00Z')");
  report::write_report(db, {dir / "metrics.html", ""});
  std::string with_metrics = read_text(dir / "metrics.html");
  EXPECT_EQ(with_metrics.find("id=\"llm-folded\""), std::string::npos);
  EXPECT_TRUE(has_figure(with_metrics, "throughput"));
}

}  // namespace
}  // namespace medcode
