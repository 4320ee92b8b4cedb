// End-to-end tests of the job controls of `medcode generate` on the facets task against the fake provider:
// --verify-only, --force, --show, and the engine options --rate-limit and --max-output-tokens.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::FakeProvider;
using testing::ProcessResult;
using testing::ProviderRequest;
using testing::query_int;
using testing::query_text;
using testing::run_medcode;
using testing::TempDir;

constexpr std::int64_t k_codes = 4;  // billable HCPCS codes of the mini file (modifiers are never selected)

// Facets answers whose body_region is whatever `region` holds when the request arrives; procedure_category
// is "supplies" for the first code of each request, so the spread has two values.
testing::Answerer facets_answerer(std::shared_ptr<std::atomic<const char*>> region) {
  return [region](const ProviderRequest& request) {
    nlohmann::json answer = nlohmann::json::parse(testing::default_answer(request));
    bool first = true;
    for (auto& item : answer["items"]) {
      item["body_region"] = region->load();
      if (first) item["procedure_category"] = "supplies";
      first = false;
    }
    return answer.dump();
  };
}

// Runs medcode with stderr on a pseudo-terminal (stdout discarded) and returns what the terminal showed.
std::string stderr_on_a_terminal(const std::vector<std::string>& args, const fs::path& working_dir,
                                 const std::vector<std::string>& extra_env) {
  int terminal = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (terminal < 0 || ::grantpt(terminal) != 0 || ::unlockpt(terminal) != 0) return "no pseudo-terminal";
  std::string side = ::ptsname(terminal);
  // Everything the child needs is built before fork: the fake provider's thread runs in this process.
  std::vector<std::string> argv_text = {MEDCODE_BINARY};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text = extra_env;
  for (char** variable = environ; *variable; ++variable) env_text.emplace_back(*variable);
  std::vector<char*> envp;
  for (auto& variable : env_text) envp.push_back(variable.data());
  envp.push_back(nullptr);
  std::string directory = working_dir.string();
  pid_t pid = ::fork();
  if (pid == 0) {
    int tty = ::open(side.c_str(), O_RDWR);
    int null = ::open("/dev/null", O_WRONLY);
    if (tty < 0 || null < 0 || ::dup2(tty, STDERR_FILENO) < 0 || ::dup2(null, STDOUT_FILENO) < 0 ||
        ::chdir(directory.c_str()) != 0)
      ::_exit(127);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  std::string shown;
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(terminal, buffer, sizeof buffer);
    if (n > 0) {
      shown.append(buffer, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EIO once the child has closed its side
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(terminal);
  return shown;
}

class GenerateFacets : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(m_dir / "medcode.yaml") << "";
    ProcessResult imported =
        medcode({"import", "hcpcs", "--year", "2019", testing::fixture("hcpcs/HCPC2019_MINI.txt").string()});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  fs::path db() const { return m_dir / "m.db"; }

  void configure(const FakeProvider& fake) {
    std::ofstream(m_dir / "medcode.yaml")
        << "models:\n  m:\n    provider: openai\n    model_id: fake-openai\n    base_url: "
        << fake.base_url("openai")
        << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
           "    requests_per_minute: 6000\n    timeout_seconds: 5\n    max_output_tokens: 4096\n";
  }

  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), {{"FAKE_PROVIDER_KEY", "sk-test-secret-0123456789"}});
  }

  std::int64_t count(const std::string& sql) { return query_int(db(), sql); }

  TempDir m_dir;
  std::shared_ptr<std::atomic<const char*>> m_region = std::make_shared<std::atomic<const char*>>("head");
};

TEST_F(GenerateFacets, VerifyOnlyReportsCoverageAndFacetSpreadWithoutSendingOrStartingAJob) {
  FakeProvider fake({}, facets_answerer(m_region));
  configure(fake);
  ProcessResult run =
      medcode({"generate", "--task", "facets", "--model", "m", "--limit", "3", "--batch-size", "3"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::size_t sent = fake.request_count();
  std::int64_t jobs = count("SELECT count(*) FROM generation_jobs");
  std::int64_t runs = count("SELECT count(*) FROM runs");

  ProcessResult verify = medcode({"--json", "generate", "--task", "facets", "--verify-only"});
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  auto report = nlohmann::json::parse(verify.out);
  EXPECT_EQ(report["release"], "HCPCS Level II 2019");
  EXPECT_EQ(report["codes"], k_codes);
  EXPECT_EQ(report["codes_done"], 3);
  EXPECT_DOUBLE_EQ(report["coverage_percent"].get<double>(), 75.0);
  ASSERT_EQ(report["fields"].size(), 11u) << report.dump();
  EXPECT_EQ(report["fields"]["body_region"]["distinct_values"], 1);
  EXPECT_EQ(report["fields"]["body_region"]["top"][0], (nlohmann::json{{"value", "head"}, {"count", 3}}));
  // The most common value first: "other" (2 codes) before "supplies" (the first code of the one request).
  EXPECT_EQ(report["fields"]["procedure_category"]["distinct_values"], 2);
  EXPECT_EQ(report["fields"]["procedure_category"]["top"][0]["value"], "other");
  EXPECT_EQ(report["fields"]["procedure_category"]["top"][1],
            (nlohmann::json{{"value", "supplies"}, {"count", 1}}));
  EXPECT_EQ(report["fields"]["is_major_surgery"]["top"][0]["value"], "false");

  ProcessResult text = medcode({"generate", "--task", "facets", "--verify-only", "--limit", "2"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("2 codes, 2 with facets (100.0%)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("body_region"), std::string::npos) << text.out;

  // Answers of another model do not count for it.
  ProcessResult other =
      medcode({"--json", "generate", "--task", "facets", "--verify-only", "--model", "other"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(nlohmann::json::parse(other.out)["codes_done"], 0);

  EXPECT_EQ(fake.request_count(), sent);
  EXPECT_EQ(count("SELECT count(*) FROM generation_jobs"), jobs);
  EXPECT_EQ(count("SELECT count(*) FROM runs"), runs);
}

TEST_F(GenerateFacets, ForceAsksAgainKeepsBothAnswersInTheLedgerAndOneEntryPerCode) {
  FakeProvider fake({}, facets_answerer(m_region));
  configure(fake);
  std::vector<std::string> args = {"generate", "--task", "facets", "--model", "m", "--batch-size", "2"};
  ASSERT_EQ(medcode(args).exit_code, 0);
  std::int64_t requests = count("SELECT count(*) FROM llm_requests");
  ASSERT_EQ(requests, 2);  // 4 codes, 2 a request
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE data LIKE '%\"head\"%'"), k_codes);

  // Neither a re-run nor --no-cache alone redoes finished codes.
  ASSERT_EQ(medcode(args).exit_code, 0);
  std::vector<std::string> no_cache = args;
  no_cache.push_back("--no-cache");
  ASSERT_EQ(medcode(no_cache).exit_code, 0);
  EXPECT_EQ(fake.request_count(), 2u);

  m_region->store("thorax");
  std::vector<std::string> force = args;
  force.push_back("--force");
  ProcessResult forced = medcode(force);
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(fake.request_count(), 4u);
  // Each request of the first run has a second row with the same prompt and its own answer.
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests"), 2 * requests);
  EXPECT_EQ(count("SELECT count(*) FROM (SELECT prompt FROM llm_requests GROUP BY prompt HAVING count(*) = 2 "
                  "AND count(DISTINCT answer) = 2)"),
            requests);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), k_codes);
  EXPECT_EQ(count("SELECT count(DISTINCT source_code) FROM dataset_entries"), k_codes);
  EXPECT_EQ(
      count("SELECT count(*) FROM dataset_entries WHERE json_extract(data, '$.body_region') = 'thorax'"),
      k_codes);
  // The entries point at the new answers.
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries e JOIN llm_requests r ON r.id = e.request_id "
                  "WHERE r.answer LIKE '%thorax%'"),
            k_codes);
}

TEST_F(GenerateFacets, ShowPrintsTheNewestAnswersReadablyWithoutSending) {
  FakeProvider fake({}, facets_answerer(m_region));
  configure(fake);
  ASSERT_EQ(medcode({"generate", "--task", "facets", "--model", "m", "--batch-size", "1"}).exit_code, 0);
  std::size_t sent = fake.request_count();
  std::string newest = query_text(db(), "SELECT source_code FROM dataset_entries ORDER BY id DESC LIMIT 1");

  ProcessResult text = medcode({"generate", "--task", "facets", "--show", "2"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out.rfind(newest + "  ", 0), 0u) << text.out;
  EXPECT_NE(text.out.find("\n  body_region: head\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("\n  uses_contrast: false\n"), std::string::npos) << text.out;

  ProcessResult json = medcode({"--json", "generate", "--task", "facets", "--show", "2"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto shown = nlohmann::json::parse(json.out);
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_EQ(shown[0]["code"], newest);
  EXPECT_EQ(shown[0]["model"], "m");
  EXPECT_FALSE(shown[0]["description"].get<std::string>().empty());
  EXPECT_EQ(shown[0]["facets"].size(), 11u);
  EXPECT_EQ(shown[1]["facets"]["body_region"], "head");
  EXPECT_EQ(fake.request_count(), sent);
}

TEST_F(GenerateFacets, MaxOutputTokensOnTheCommandLineReachesTheProvider) {
  FakeProvider fake({}, facets_answerer(m_region));
  configure(fake);
  ProcessResult run =
      medcode({"generate", "--task", "facets", "--model", "m", "--limit", "2", "--max-output-tokens", "777"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_GT(fake.request_count(), 0u);
  for (const auto& request : fake.requests())
    EXPECT_EQ(request.body["max_tokens"], 777) << request.body.dump();
}

TEST_F(GenerateFacets, RateLimitOverridesTheConfiguredRequestsPerMinute) {
  FakeProvider fake({}, facets_answerer(m_region));
  configure(fake);
  ProcessResult listed = medcode({"--json", "generate", "--list-models", "--rate-limit", "7"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  bool found = false;
  for (const auto& model : nlohmann::json::parse(listed.out)) {
    EXPECT_EQ(model["requests_per_minute"], 7) << model.dump();
    found = found || model["name"] == "m";
  }
  EXPECT_TRUE(found);

  // One code a request, one request a minute: the plan needs four minutes (6000/min in the config: 0.04 s).
  ProcessResult plan = medcode({"--json", "generate", "--task", "facets", "--model", "m", "--batch-size", "1",
                                "--dry-run", "--rate-limit", "1", "--max-output-tokens", "100"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  auto planned = nlohmann::json::parse(plan.out)["plan"][0];
  EXPECT_DOUBLE_EQ(planned["minutes_at_limits"].get<double>(), 4.0) << planned.dump();
  EXPECT_EQ(planned["max_output_tokens"], k_codes * 100) << planned.dump();
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(GenerateFacets, TheTerminalProgressLineShowsTheLatestBatchSizeChange) {
  FakeProvider fake({}, facets_answerer(m_region));
  // One request at a time, one code each: after three successes the batch grows to two.
  std::ofstream(m_dir / "medcode.yaml")
      << "models:\n  m:\n    provider: openai\n    model_id: fake-openai\n    base_url: "
      << fake.base_url("openai")
      << "\n    api_key_env: \"\"\n    requests_per_minute: 6000\n    batch_size: 1\n"
         "    initial_concurrency: 1\n    max_concurrency: 1\n";
  std::string shown = stderr_on_a_terminal(
      {"--db", db().string(), "generate", "--task", "facets", "--model", "m"}, m_dir.path(), {});
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), k_codes) << shown;
  EXPECT_NE(shown.find(" · batch size 1 → 2 after 3 "), std::string::npos) << shown;
}

TEST_F(GenerateFacets, EveryCommandWithEngineOptionsTakesTheLimits) {
  for (const char* command : {"generate", "score", "evaluate", "predict", "serve", "run"}) {
    ProcessResult help = medcode({command, "--help"});
    EXPECT_NE(help.out.find("--rate-limit"), std::string::npos) << command;
    EXPECT_NE(help.out.find("--max-output-tokens"), std::string::npos) << command;
  }
}

TEST_F(GenerateFacets, BadControlsAreUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"generate", "--task", "facets", "--show", "0"}, "--show"},
      {{"generate", "--task", "facets", "--verify-only", "--force"}, "--force"},
      {{"generate", "--task", "facets", "--verify-only", "--show", "2"}, "--verify-only"},
      {{"generate", "--task", "facets", "--model", "m", "--rate-limit", "0"}, "--rate-limit"},
      {{"score", "--rate-limit", "-3"}, "--rate-limit"},
      {{"generate", "--task", "facets", "--model", "m", "--max-output-tokens", "0"}, "--max-output-tokens"},
      {{"generate", "--task", "cms-terms", "--force"}, "--force"},
      {{"generate", "--task", "conversation", "--verify-only"}, "--verify-only"},
  };
  for (const auto& bad : cases) {
    ProcessResult result = medcode(bad.args);
    EXPECT_EQ(result.exit_code, 2) << bad.args.back() << ": " << result.err;
    EXPECT_NE(result.err.find(bad.message), std::string::npos) << result.err;
  }
}

TEST_F(GenerateFacets, VerifyOnlyWithoutTheReleaseIsBadInput) {
  ProcessResult result = medcode({"generate", "--task", "facets", "--verify-only", "--system", "icd10pcs"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("import icd10pcs"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace medcode
