// End-to-end tests of `medcode report`: a page from a real generation on the FY2023 store (its LLM panels
// folded into one line), the per-model aggregates and throughput and cost charts after a generation through a
// fake LLM, the run it records, a missing store, the coders' scores and P/R curves after evaluations on the
// CodiEsp fixture, and the page as headless Chromium renders it (DOM, element sizes, console and a
// screenshot) when Chromium is there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

extern char** environ;

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::query_int;
using testing::read_text;
using testing::run_medcode;
using testing::TempDir;

constexpr const char* k_chromium = "/usr/bin/chromium";
const std::vector<std::string> k_chart_ids = {
    "cost-per-model",    "cost-per-entry",   "throughput",       "items-per-second", "batch-size",
    "tokens-progress",   "tokens-ledger",    "cost-over-time",   "request-outcomes", "latency",
    "quality-histogram", "quality-by-match", "chapter-coverage", "top-categories",   "pr-curve"};
// The charts only LLM activity fills: without any they fold into one line.
const std::vector<std::string> k_llm_chart_ids = {"throughput",       "items-per-second", "batch-size",
                                                  "tokens-progress",  "tokens-ledger",    "cost-over-time",
                                                  "request-outcomes", "latency"};

// Writes the width and height of the framed report's new panels into <pre id="sizes"> as JSON (null for one
// that is missing), once the report has loaded.
constexpr const char* k_measure_script = R"js(<script>
window.addEventListener('load', () => {
  const page = document.getElementById('report').contentDocument;
  const sizes = {};
  for (const id of ['items-per-second', 'cost-over-time', 'model-aggregates', 'model-aggregates-note']) {
    const element = page.getElementById(id);
    const box = element ? element.getBoundingClientRect() : null;
    sizes[id] = box ? [box.width, box.height] : null;
  }
  document.getElementById('sizes').textContent = JSON.stringify(sizes);
});
</script>)js";

// Runs a program with stdout and stderr sent to files; returns its exit status (or 128 + signal).
int run_program(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int spawned = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class ReportCommand : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), db()); }

  fs::path db() const { return m_dir / "m.db"; }
  fs::path page() const { return m_dir / "site" / "index.html"; }

  ProcessResult medcode(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), env);
  }

  // A store with 200 codes' worth of CMS-text entries, reported to page().
  void generate_and_report() {
    ProcessResult generate = medcode({"generate", "--task", "cms-terms", "--limit", "200"});
    ASSERT_EQ(generate.exit_code, 0) << generate.err;
    ProcessResult report =
        medcode({"--json", "report", "--out", page().string(), "--title", "FY2023 <demo>"});
    ASSERT_EQ(report.exit_code, 0) << report.err;
    m_summary = nlohmann::json::parse(report.out);
  }

  // Descriptions of 24 codes through model `fake` on the fake provider, four codes a request (the batcher may
  // not grow past four), so that the ledger, metrics and batch-size history hold LLM activity.
  void generate_through_fake_llm(const testing::FakeProvider& fake) {
    std::ofstream(m_dir / "medcode.yaml")
        << "models:\n  fake:\n    provider: openai\n    model_id: fake-openai\n    base_url: "
        << fake.base_url("openai")
        << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
           "    prices_as_of: \"2026-11-01\"\n    requests_per_minute: 6000\n    timeout_seconds: 5\n"
           "    batch_size: 4\n    max_batch_size: 4\n";
    ProcessResult generate =
        medcode({"generate", "--task", "descriptions", "--model", "fake", "--sample", "24", "--seed", "3"},
                {{"FAKE_PROVIDER_KEY", "sk-test-secret-0123456789"}});
    ASSERT_EQ(generate.exit_code, 0) << generate.err;
  }

  // Scores `coder` on the dev split of the CodiEsp fixture (copied here once); returns evaluate's JSON.
  nlohmann::json evaluate_on_codiesp(const std::string& coder) {
    fs::path codiesp = m_dir / "codiesp";
    if (!fs::exists(codiesp)) fs::copy(testing::fixture("codiesp"), codiesp, fs::copy_options::recursive);
    ProcessResult evaluate =
        medcode({"--json", "evaluate", "--codiesp", (codiesp / "dev").string(), "--coder", coder});
    EXPECT_EQ(evaluate.exit_code, 0) << evaluate.err;
    return evaluate.exit_code == 0 ? nlohmann::json::parse(evaluate.out) : nlohmann::json::object();
  }

  static std::string figure_attributes(const std::string& html, const std::string& id) {
    std::smatch match;
    std::regex figure("<figure class=\"chart\" id=\"" + id + "\"([^>]*)>");
    return std::regex_search(html, match, figure) ? match[1].str() : "<missing>";
  }

  TempDir m_dir;
  nlohmann::json m_summary;
};

TEST_F(ReportCommand, WritesASelfContainedPageFromARealGeneration) {
  generate_and_report();
  const int charts = static_cast<int>(k_chart_ids.size() - k_llm_chart_ids.size());  // CMS text asks no LLM
  EXPECT_EQ(m_summary["path"], page().string());
  EXPECT_EQ(m_summary["charts"], charts);
  EXPECT_GE(m_summary["charts_with_data"],
            4);  // cost, cost per entry, chapters, categories: CMS text is free
  std::string html = read_text(page());
  EXPECT_EQ(m_summary["bytes"], html.size());

  EXPECT_FALSE(std::regex_search(html, std::regex(R"((src|href)\s*=\s*["']?\s*https?:)", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(html, std::regex(R"(<script[^>]*\bsrc)", std::regex::icase)));
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  for (const std::string& id : k_chart_ids) {
    bool llm = std::find(k_llm_chart_ids.begin(), k_llm_chart_ids.end(), id) != k_llm_chart_ids.end();
    EXPECT_EQ(figure_attributes(html, id) == "<missing>", llm) << id;
  }
  EXPECT_NE(figure_attributes(html, "chapter-coverage").find("data-points="), std::string::npos);
  EXPECT_NE(figure_attributes(html, "top-categories").find("data-points="), std::string::npos);
  EXPECT_NE(html.find("<p class=\"folded\" id=\"llm-folded\">No LLM requests yet: generate with "
                      "<code>--model</code> to see throughput, batch sizes, tokens and cost.</p>"),
            std::string::npos);
  EXPECT_EQ(html.find("<table id=\"model-aggregates\">"), std::string::npos);
  EXPECT_NE(html.find("<h1>FY2023 &lt;demo&gt;</h1>"), std::string::npos);
  EXPECT_NE(html.find("ICD-10-CM 2023"), std::string::npos);
  EXPECT_NE(html.find(">generate</td>"), std::string::npos);

  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM runs WHERE command = 'report' AND status = 'ok'"), 1);
  EXPECT_EQ(query_int(db(), "SELECT json_extract(counters, '$.charts') FROM runs WHERE command = 'report'"),
            charts);
}

TEST_F(ReportCommand, ShowsEachModelsAggregatesAndItsThroughputAndCostOverTimeAfterAnLlmGeneration) {
  testing::FakeProvider fake;
  generate_through_fake_llm(fake);
  ProcessResult report = medcode({"--json", "report", "--out", page().string()});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_EQ(nlohmann::json::parse(report.out)["charts"], static_cast<int>(k_chart_ids.size()));
  std::string html = read_text(page());
  EXPECT_EQ(html.find("id=\"llm-folded\""), std::string::npos);
  for (const std::string& id : k_llm_chart_ids)
    EXPECT_NE(figure_attributes(html, id).find("data-points="), std::string::npos) << id;

  // 24 codes, four a request: six requests of size 4, all answered.
  std::int64_t requests = query_int(db(), "SELECT count(*) FROM llm_requests WHERE model = 'fake'");
  std::int64_t items = query_int(db(), "SELECT sum(n_items) FROM llm_requests WHERE status = 'done'");
  EXPECT_EQ(requests, 6);
  EXPECT_EQ(items, 24);
  std::smatch row;
  ASSERT_TRUE(std::regex_search(
      html, row,
      std::regex(
          "<tr><td>fake</td><td class=\"num\">([0-9]+)</td><td class=\"num\">([0-9]+)</td>"
          "<td class=\"num\">([0-9.]+)</td><td class=\"num\">([0-9.]+)</td><td class=\"num\">([0-9.]+)</td>"
          ".*<td class=\"num\" title=\"[0-9.]+ items/s over 6 requests sent\">4</td>"
          "<td class=\"num\">4</td></tr>")))
      << html.substr(html.find("<table id=\"model-aggregates\">"), 2000);
  EXPECT_EQ(std::stoll(row[1]), requests);
  EXPECT_EQ(std::stoll(row[2]), items);
  EXPECT_GT(std::stod(row[3]), 0);                  // average
  EXPECT_GE(std::stod(row[4]), std::stod(row[3]));  // peak
  EXPECT_LE(std::stod(row[5]), std::stod(row[3]));  // minimum
  EXPECT_NE(html.find("<p class=\"note\" id=\"model-aggregates-note\">"), std::string::npos);
}

TEST_F(ReportCommand, PrintsThePathAndTakesTheDefaultFromTheEnvironment) {
  fs::path from_env = m_dir / "env" / "report.html";
  ProcessResult report = medcode({"report"}, {{"MEDCODE_REPORT", from_env.string()}});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_EQ(report.out, from_env.string() + "\n");
  EXPECT_TRUE(fs::exists(from_env));

  ProcessResult by_default = medcode({"report"}, {{"MEDCODE_REPORT", ""}});
  ASSERT_EQ(by_default.exit_code, 0) << by_default.err;
  EXPECT_TRUE(fs::exists(m_dir / "medcode-report" / "index.html"));
}

TEST_F(ReportCommand, AMissingStoreIsBadInputAndIsNotCreated) {
  fs::path missing = m_dir / "none.db";
  ProcessResult report =
      run_medcode({"--db", missing.string(), "report", "--out", page().string()}, m_dir.path());
  EXPECT_EQ(report.exit_code, 3);
  EXPECT_NE(report.err.find("no such store"), std::string::npos) << report.err;
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_FALSE(fs::exists(page()));
}

TEST_F(ReportCommand, AnOutputThatIsAFolderIsAUsageErrorNamingIt) {
  fs::create_directories(m_dir / "site");
  ProcessResult folder = medcode({"report", "--out", (m_dir / "site").string()});
  EXPECT_EQ(folder.exit_code, 2) << folder.err;
  EXPECT_NE(folder.err.find((m_dir / "site").string() + ": is a folder"), std::string::npos) << folder.err;
  EXPECT_TRUE(fs::is_empty(m_dir / "site"));
}

TEST_F(ReportCommand, ShowsEachCodersScoresAndPrCurveAfterEvaluations) {
  ProcessResult empty = medcode({"report", "--out", page().string()});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  std::string before = read_text(page());
  EXPECT_NE(figure_attributes(before, "pr-curve").find("data-empty=\"true\""), std::string::npos);
  EXPECT_NE(before.find("Filled by medcode evaluate"), std::string::npos);
  EXPECT_NE(before.find("<table id=\"coder-scores\">"), std::string::npos);

  nlohmann::json majority = evaluate_on_codiesp("majority");
  ASSERT_EQ(majority["pr_curve"].size(), 20U);
  EXPECT_EQ(majority["pr_curve"][19]["k"], 20);
  // majority assigns its top code: the curve's first point is its micro P and R.
  EXPECT_DOUBLE_EQ(majority["pr_curve"][0]["precision"].get<double>(),
                   majority["micro"]["precision"].get<double>());
  EXPECT_DOUBLE_EQ(majority["pr_curve"][0]["recall"].get<double>(),
                   majority["micro"]["recall"].get<double>());
  EXPECT_EQ(query_int(db(), "SELECT json_array_length(result, '$.pr_curve') FROM evaluations"), 20);
  evaluate_on_codiesp("bm25");

  ProcessResult report = medcode({"report", "--out", page().string()});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  std::string html = read_text(page());
  std::size_t table = html.find("<table id=\"coder-scores\">");
  std::size_t table_end = html.find("</table>", table);
  for (const char* coder : {"majority", "bm25"}) {
    std::size_t row = html.find(std::string("\">dev (CodiEsp-D)</td><td>") + coder + "</td>", table);
    EXPECT_LT(row, table_end) << coder;
  }
  std::smatch points;
  std::string attributes = figure_attributes(html, "pr-curve");
  ASSERT_TRUE(std::regex_search(attributes, points, std::regex("data-points=\"([0-9]+)\""))) << attributes;
  EXPECT_EQ(std::stoi(points[1]), 2 * (20 + 1));  // two coders: 20 points and an operating point each
  EXPECT_NE(html.find("<title>bm25 · k = 1: P "), std::string::npos);
  EXPECT_NE(html.find("<title>majority · own threshold: P "), std::string::npos);
}

// The real check of "self-contained": a browser that may fetch nothing renders every chart, logs nothing to
// its console (a blocked fetch would be logged there), and lays out the new panels with a size.
TEST_F(ReportCommand, HeadlessChromiumRendersEveryChart) {
  if (!fs::exists(k_chromium)) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  evaluate_on_codiesp("majority");  // so that the P/R chart is drawn, not its placeholder
  evaluate_on_codiesp("bm25");
  {
    testing::FakeProvider fake;  // so that the LLM panels are drawn, not folded
    generate_through_fake_llm(fake);
  }
  generate_and_report();
  TempDir browser;
  std::vector<std::string> common = {"timeout",
                                     "120",
                                     k_chromium,
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-dev-shm-usage",
                                     "--disable-quic",
                                     "--no-first-run",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--user-data-dir=" + (browser / "profile").string()};
  std::string url = "file://" + page().string();

  std::vector<std::string> dump = common;
  dump.insert(dump.end(), {"--enable-logging=stderr", "--v=0", "--dump-dom", url});
  ASSERT_EQ(run_program(dump, browser / "dom.html", browser / "dom.err"), 0)
      << read_text(browser / "dom.err");
  std::string dom = read_text(browser / "dom.html");
  for (const std::string& id : k_chart_ids) EXPECT_NE(dom.find("id=\"" + id + "\""), std::string::npos) << id;
  EXPECT_NE(dom.find("<table id=\"model-aggregates\">"), std::string::npos);
  EXPECT_EQ(dom.find("id=\"llm-folded\""), std::string::npos);
  // Chromium logs each console message (errors, and fetches the page's policy refused) as "CONSOLE".
  std::string console = read_text(browser / "dom.err");
  EXPECT_EQ(console.find(":CONSOLE"), std::string::npos) << console;

  // The page runs no script, so a page beside it that frames it measures its elements once all has loaded.
  std::ofstream(browser / "measure.html")
      << "<!DOCTYPE html><html><body><iframe id=\"report\" src=\"" << url
      << "\" style=\"width:1280px;height:4000px\"></iframe><pre id=\"sizes\"></pre>" << k_measure_script
      << "</body></html>\n";
  std::vector<std::string> measure = common;
  measure.insert(measure.end(), {"--allow-file-access-from-files", "--virtual-time-budget=10000",
                                 "--dump-dom", "file://" + (browser / "measure.html").string()});
  ASSERT_EQ(run_program(measure, browser / "measure.out", browser / "measure.err"), 0)
      << read_text(browser / "measure.err");
  std::smatch sizes_text;
  std::string measured = read_text(browser / "measure.out");
  ASSERT_TRUE(std::regex_search(measured, sizes_text, std::regex("<pre id=\"sizes\">([^<]*)</pre>")))
      << measured;
  nlohmann::json sizes = nlohmann::json::parse(sizes_text[1].str(), nullptr, false);
  ASSERT_TRUE(sizes.is_object()) << sizes_text[1];
  for (const auto& [id, size] : sizes.items()) {
    ASSERT_TRUE(size.is_array()) << id << " is not on the page";
    EXPECT_GT(size[0].get<double>(), 0) << id;
    EXPECT_GT(size[1].get<double>(), 0) << id;
  }
  EXPECT_GE(std::count(dom.begin(), dom.end(), '\n'), 10);
  EXPECT_NE(dom.find("<svg"), std::string::npos);
  EXPECT_NE(dom.find("data-points="), std::string::npos);
  EXPECT_NE(figure_attributes(dom, "pr-curve").find("data-points=\"42\""), std::string::npos)
      << figure_attributes(dom, "pr-curve");

  fs::path png = browser / "report.png";
  std::vector<std::string> shot = common;
  shot.insert(shot.end(),
              {"--screenshot=" + png.string(), "--window-size=1280,4000", "--hide-scrollbars", url});
  ASSERT_EQ(run_program(shot, browser / "shot.out", browser / "shot.err"), 0)
      << read_text(browser / "shot.err");
  ASSERT_TRUE(fs::exists(png)) << read_text(browser / "shot.err");
  std::string bytes = read_text(png);
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(bytes.size(), 20000u);  // a blank page compresses to far less
  // Lets a developer look at what the browser drew.
  if (const char* keep = std::getenv("MEDCODE_KEEP_REPORT_SCREENSHOT"))
    fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
}

}  // namespace
}  // namespace medcode
