// End-to-end tests of `medcode generate`: the offline cms-terms task on the real FY2023 store, and LLM tasks
// against the fake provider on loopback: resume after SIGKILL, budget cap, dry run, provider errors, secrets.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::FakeProvider;
using testing::FakeProviderOptions;
using testing::ProcessResult;
using testing::ProviderFault;
using testing::query_int;
using testing::query_text;
using testing::run_medcode;
using testing::TempDir;

// Each test works on its own copy of the shared FY2023 store, with a config file naming fake models.
class GenerateCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy_file(testing::icd10cm_2023_store(), db());
    write_config("");
  }

  fs::path db() const { return m_dir / "m.db"; }

  void write_config(const std::string& models) {
    std::ofstream(m_dir / "medcode.yaml") << (models.empty() ? "" : "models:\n" + models);
  }

  // A model on the fake's endpoint of `format`.
  static std::string model(const std::string& name, const std::string& format, const FakeProvider& fake,
                           const std::string& extra = "") {
    return "  " + name + ":\n    provider: " + format + "\n    model_id: fake-" + format +
           "\n    base_url: " + fake.base_url(format) +
           "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
           "    prices_as_of: \"2026-11-01\"\n    requests_per_minute: 6000\n    timeout_seconds: 5\n" +
           extra;
  }

  ProcessResult medcode(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), {"--db", db().string()});
    env.emplace("FAKE_PROVIDER_KEY", "sk-test-secret-0123456789");
    return run_medcode(args, m_dir.path(), env);
  }

  std::int64_t count(const std::string& sql) { return query_int(db(), sql); }

  TempDir m_dir;
};

TEST_F(GenerateCommand, CmsTermsBuildsAnOfflineDatasetAndARerunAddsNothing) {
  ProcessResult first = medcode({"--json", "generate", "--task", "cms-terms", "--limit", "1000"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto summary = nlohmann::json::parse(first.out);
  EXPECT_EQ(summary["codes"], 1000);
  std::int64_t written = summary["cms_terms"]["entries_written"];
  EXPECT_GT(written, 500);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE task = 'cms-terms' AND model = 'cms'"),
            written);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE kind NOT IN ('index_term', 'inclusion_term')"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE command = 'generate' AND status = 'ok'"), 1);

  ProcessResult again = medcode({"--json", "generate", "--task", "cms-terms", "--limit", "1000"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto second = nlohmann::json::parse(again.out);
  EXPECT_EQ(second["resumed"], true);
  EXPECT_EQ(second["cms_terms"]["entries_written"], 0);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), written);
}

TEST_F(GenerateCommand, DescriptionsThroughEachWireFormatWithCostAndPricesRecorded) {
  FakeProvider fake;
  write_config(model("oa", "openai", fake) + model("an", "anthropic", fake) + model("ge", "gemini", fake));
  ProcessResult result = medcode({"--json", "generate", "--task", "descriptions", "--model", "oa", "--model",
                                  "an", "--model", "ge", "--sample", "20", "--seed", "3", "--count", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  ASSERT_EQ(summary["models"].size(), 3u);
  for (const auto& model : summary["models"]) {
    EXPECT_EQ(model["items_done"], 20) << model.dump();
    EXPECT_GT(model["cost_usd"].get<double>(), 0);
  }
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE task = 'descriptions'"), 3 * 20 * 2 * 2);
  EXPECT_EQ(count("SELECT count(*) FROM run_prices WHERE prices_as_of = '2026-11-01'"), 3);
  EXPECT_GT(count("SELECT count(*) FROM metrics WHERE name = 'generate.items_done'"), 0);
  // The key went to the provider and nowhere else.
  EXPECT_EQ(fake.requests().at(0).api_key, "sk-test-secret-0123456789");
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE argv LIKE '%sk-test%' OR counters LIKE '%sk-test%'"), 0);
  EXPECT_EQ(
      count("SELECT count(*) FROM llm_requests WHERE prompt LIKE '%sk-test%' OR params LIKE '%sk-test%' "
            "OR answer LIKE '%sk-test%'") +
                count("SELECT count(*) FROM llm_attempts WHERE response LIKE '%sk-test%' OR error LIKE '%sk-test%'"),
      0);
}

TEST_F(GenerateCommand, KilledWithSigkillAndRestartedFinishesWithNothingLostOrPaidTwice) {
  FakeProviderOptions fake_options;
  fake_options.latency = std::chrono::milliseconds(150);
  FakeProvider fake(fake_options);
  write_config(
      model("m", "openai", fake, "    batch_size: 2\n    initial_concurrency: 2\n    max_concurrency: 2\n"));
  std::vector<std::string> args = {
      "--db",     db().string(), "generate", "--task", "descriptions", "--model", "m",
      "--sample", "60",          "--count",  "1",      "--batch-size", "2"};
  {
    testing::BackgroundMedcode running(args, m_dir.path(), {{"FAKE_PROVIDER_KEY", "k"}});
    // Kill it once part of the work is done, whatever it is doing at that moment.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (fake.answered_ok() < 5 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(75));
    running.kill_now();
  }
  std::int64_t done_before = count("SELECT count(*) FROM generation_items WHERE status = 'done'");
  EXPECT_GT(done_before, 0);
  EXPECT_LT(done_before, 60);
  std::size_t answered_before = fake.answered_ok();

  ProcessResult rerun = medcode({"--json", "generate", "--task", "descriptions", "--model", "m", "--sample",
                                 "60", "--count", "1", "--batch-size", "2"},
                                {{"FAKE_PROVIDER_KEY", "k"}});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(nlohmann::json::parse(rerun.out)["resumed"], true);
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), 60);
  EXPECT_EQ(count("SELECT count(DISTINCT source_code) FROM dataset_entries"), 60);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), 60 * 2);  // one clinical, one lay: none twice
  // Only requests in flight at the kill (at most 2) were answered without being recorded.
  std::int64_t done_requests = count("SELECT count(*) FROM llm_requests WHERE status = 'done'");
  EXPECT_EQ(done_requests, 30);
  EXPECT_LE(static_cast<std::int64_t>(fake.answered_ok()), done_requests + 2);
  EXPECT_GE(fake.answered_ok(), answered_before);
}

TEST_F(GenerateCommand, BudgetCapExitsSixWithinTheCap) {
  FakeProvider fake;
  write_config(model("m", "openai", fake, "    output_per_million: 500\n    max_output_tokens: 1000\n"));
  ProcessResult result = medcode({"--json", "generate", "--task", "descriptions", "--model", "m", "--sample",
                                  "40", "--batch-size", "1", "--max-cost", "2.0"});
  EXPECT_EQ(result.exit_code, 6) << result.err;
  EXPECT_NE(result.err.find("--max-cost"), std::string::npos);
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_LE(summary["cost_usd"].get<double>(), 2.0);
  EXPECT_GT(summary["items_left"].get<int>(), 0);
  EXPECT_EQ(count("SELECT exit_code FROM runs WHERE command = 'generate' AND status = 'failed'"), 6);
}

TEST_F(GenerateCommand, ACapBelowTheFirstRequestsEstimateSendsNothingAndNamesTheFigure) {
  FakeProvider fake;
  write_config(model("m", "openai", fake, "    output_per_million: 500\n    max_output_tokens: 1000\n"));
  ProcessResult result = medcode({"generate", "--task", "descriptions", "--model", "m", "--sample", "5",
                                  "--batch-size", "1", "--max-cost", "0.01"});
  EXPECT_EQ(result.exit_code, 6) << result.err;
  EXPECT_NE(result.err.find("before anything was sent: the first request would cost about $0.1"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("over the cap of $0.0100; 5 items left"), std::string::npos) << result.err;
  EXPECT_TRUE(fake.requests().empty());
}

// Answers cut off at the provider's output limit: the run made nothing, so it fails (exit 3), naming the
// cause rather than the schema rule the fragment breaks; the next run sends them again.
TEST_F(GenerateCommand, EveryAnswerCutOffExitsThreeNamingTheCause) {
  FakeProvider fake({}, [](const testing::ProviderRequest&) {
    return std::string(R"({"items": [{"code": "A00.0", "clinical": ["cholera"]}, {"code": "A0)");
  });
  write_config(model("oa", "openai", fake, "    max_repairs: 1\n"));
  ProcessResult result =
      medcode({"generate", "--task", "descriptions", "--model", "oa", "--sample", "3", "--count", "1"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("no valid answer for any of its"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("cut off after"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("missing required property"), std::string::npos) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), 0);
}

TEST_F(GenerateCommand, DryRunPrintsThePlanAndSendsNothing) {
  FakeProvider fake;
  write_config(model("m", "anthropic", fake));
  ProcessResult result =
      medcode({"generate", "--task", "descriptions", "--model", "m", "--sample", "100", "--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("nothing sent"), std::string::npos);
  EXPECT_NE(result.out.find("projected"), std::string::npos);
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests"), 0);
}

TEST_F(GenerateCommand, ProviderRefusingTheKeyExitsFourWithItsMessageAndNoSecret) {
  FakeProviderOptions fake_options;
  fake_options.required_api_key = "the-right-key";
  FakeProvider fake(fake_options);
  write_config(model("m", "gemini", fake));
  ProcessResult result = medcode({"generate", "--task", "descriptions", "--model", "m", "--limit", "5"});
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_NE(result.err.find("401"), std::string::npos);
  EXPECT_EQ(result.err.find("sk-test-secret"), std::string::npos);
  EXPECT_EQ(result.out.find("sk-test-secret"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status = 'failed'"), 1);
  EXPECT_EQ(
      count("SELECT count(*) FROM llm_attempts WHERE response LIKE '%sk-test%' OR error LIKE '%sk-test%'"),
      0);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE error LIKE '%sk-test%' OR counters LIKE '%sk-test%'"), 0);
  // The run's record says why, not only the exit code.
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE command = 'generate' AND exit_code = 4 AND error LIKE '%HTTP 401%'"),
            1);
}

TEST_F(GenerateCommand, AHeaderCredentialComesFromTheEnvironmentAndIsNeverEchoed) {
  FakeProviderOptions fake_options;
  fake_options.required_api_key = "the-right-key";
  FakeProvider fake(fake_options);
  // Written into the config, a credential is refused without being repeated.
  write_config(model("m", "openai", fake, "    headers:\n      Authorization: \"Bearer sk-proj-literal-0123456789\"\n"));
  ProcessResult literal = medcode({"generate", "--task", "descriptions", "--model", "m", "--limit", "2"});
  EXPECT_EQ(literal.exit_code, 2) << literal.err;
  EXPECT_NE(literal.err.find("models.m.headers.Authorization: looks like a credential"), std::string::npos)
      << literal.err;
  EXPECT_EQ(literal.err.find("sk-proj-literal"), std::string::npos) << literal.err;
  EXPECT_EQ(fake.request_count(), 0u);

  // Taken from the environment, it is sent; the provider quotes it back in its 401, and it goes no further.
  std::string config = model("m", "openai", fake, "    headers:\n      Authorization: \"Bearer ${HEADER_TOKEN}\"\n");
  config.replace(config.find("api_key_env: FAKE_PROVIDER_KEY"), std::string("api_key_env: FAKE_PROVIDER_KEY").size(),
                 "api_key_env: \"\"");
  write_config(config);
  ProcessResult sent = medcode({"--log-file", (m_dir / "medcode.log").string(), "generate", "--task",
                                "descriptions", "--model", "m", "--limit", "2"},
                               {{"HEADER_TOKEN", "sk-header-secret-9876543210"}});
  EXPECT_EQ(sent.exit_code, 4) << sent.err;
  ASSERT_GE(fake.request_count(), 1u);
  EXPECT_EQ(fake.requests().at(0).api_key, "sk-header-secret-9876543210");
  EXPECT_NE(sent.err.find("Incorrect API key provided: ***"), std::string::npos) << sent.err;
  EXPECT_EQ(sent.err.find("sk-header-secret"), std::string::npos) << sent.err;
  EXPECT_EQ(testing::read_text(m_dir / "medcode.log").find("sk-header-secret"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM llm_attempts WHERE response LIKE '%sk-header%' OR error LIKE '%sk-header%'"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE error LIKE '%sk-header%' OR params LIKE '%sk-header%'"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE error LIKE '%sk-header%' OR counters LIKE '%sk-header%'"), 0);

  // An unset variable is named, before anything is sent.
  std::size_t before = fake.request_count();
  ProcessResult unset = medcode({"generate", "--task", "descriptions", "--model", "m", "--limit", "2"});
  EXPECT_EQ(unset.exit_code, 2) << unset.err;
  EXPECT_NE(unset.err.find("header Authorization needs the environment variable HEADER_TOKEN"), std::string::npos)
      << unset.err;
  EXPECT_EQ(fake.request_count(), before);
}

TEST_F(GenerateCommand, ALogFileThatIsAFolderIsAUsageErrorOnStderr) {
  ProcessResult result = medcode({"--log-file", m_dir.path().string(), "generate", "--task", "cms-terms"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("--log-file " + m_dir.path().string()), std::string::npos) << result.err;
}

TEST_F(GenerateCommand, AKeyOnTheCommandLineIsRefusedWithoutBeingRepeated) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"generate", "--task", "descriptions", "--api-key", "sk-cli-secret-0123456789"},
        std::vector<std::string>{"generate", "--api-key=sk-cli-secret-0123456789"}}) {
    ProcessResult result = medcode(args);
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_EQ(result.err.find("sk-cli-secret"), std::string::npos) << result.err;
    EXPECT_EQ(result.out.find("sk-cli-secret"), std::string::npos) << result.out;
    EXPECT_NE(result.err.find("Run with --help"), std::string::npos) << result.err;
  }
}

TEST_F(GenerateCommand, BadInvocationsAreUsageErrors) {
  FakeProvider fake;
  write_config(model("m", "openai", fake));
  EXPECT_EQ(medcode({"generate", "--task", "descriptions"}).exit_code, 2);  // no model
  EXPECT_EQ(medcode({"generate", "--task", "descriptions", "--model", "nope"}).exit_code,
            2);  // unknown model
  EXPECT_EQ(medcode({"generate", "--task", "cms-terms", "--model", "m"}).exit_code, 2);
  EXPECT_EQ(medcode({"generate", "--task", "poems"}).exit_code, 2);
  EXPECT_EQ(medcode({"generate", "--chapter", "99"}).exit_code, 2);
  EXPECT_EQ(medcode({"generate", "--shard", "4/4"}).exit_code, 2);
  ProcessResult no_key =
      medcode({"generate", "--task", "descriptions", "--model", "m"}, {{"FAKE_PROVIDER_KEY", ""}});
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.err.find("FAKE_PROVIDER_KEY"), std::string::npos);
  write_config("  m:\n    provider: openai\n    model_id: x\n    rpm: 5\n");
  ProcessResult bad_config = medcode({"generate", "--task", "descriptions", "--model", "m"});
  EXPECT_EQ(bad_config.exit_code, 2);
  EXPECT_NE(bad_config.err.find("models.m.rpm"), std::string::npos);
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(GenerateCommand, ShardsOfOneJobSplitItsCodesWithoutOverlap) {
  std::int64_t total = 0;
  for (const char* shard : {"0/3", "1/3", "2/3"}) {
    ProcessResult result = medcode({"--json", "generate", "--chapter", "1", "--shard", shard});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    total += nlohmann::json::parse(result.out)["codes"].get<std::int64_t>();
  }
  ProcessResult whole = medcode({"--json", "generate", "--chapter", "1"});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(total, nlohmann::json::parse(whole.out)["codes"].get<std::int64_t>());
  EXPECT_EQ(count("SELECT count(*) FROM generation_jobs"), 4);  // a shard is a job of its own
  EXPECT_EQ(
      count("SELECT count(*) FROM (SELECT source_code, text FROM dataset_entries GROUP BY source_code, text "
            "HAVING count(DISTINCT job_id) > 2)"),
      0);
}

TEST_F(GenerateCommand, NoReleaseInTheStoreIsBadInput) {
  TempDir empty;
  ProcessResult result = run_medcode({"--db", (empty / "e.db").string(), "generate", "--task", "cms-terms"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
}

TEST_F(GenerateCommand, ListModelsShowsBuiltInAndConfiguredModels) {
  FakeProvider fake;
  write_config(model("mine", "openai", fake));
  ProcessResult result = medcode({"--json", "generate", "--list-models"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto models = nlohmann::json::parse(result.out);
  std::set<std::string> names;
  for (const auto& model : models) names.insert(model["name"]);
  EXPECT_TRUE(names.count("mine"));
  EXPECT_TRUE(names.count("gpt-4o-mini"));
  EXPECT_TRUE(names.count("claude-3-5-haiku"));
}

}  // namespace
}  // namespace medcode
