// End-to-end tests of the llm:MODEL document coder against the fake provider on loopback: `evaluate
// --codiesp` on the CodiEsp fixture (figures by hand from the fake's picks), a second run answered from the
// ledger, a dry run that sends nothing, a provider that refuses the key (exit 4), and `predict --file` with
// the quoted words located in the note.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

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
using testing::ProviderRequest;
using testing::run_medcode;
using testing::TempDir;

// What the fake codes when the shortlist offers it: the gold codes of S-dev-1 and S-dev-3, and dysuria
// (R30.0), which the gold of S-dev-2 lacks. S-dev-2's cystitis (N30.00) is left to the model's judgement of
// the Index's shortlist, whatever it holds, so it is never picked here.
const std::set<std::string> k_fake_picks = {"I10", "E11.9", "R30.0", "R50.9"};

// Picks the shortlist's codes that are in k_fake_picks, quoting the first words the Index matched for each.
std::string pick_known_codes(const ProviderRequest& request) {
  nlohmann::json picks = nlohmann::json::array();
  std::istringstream lines(request.user_messages.at(0));
  bool in_candidates = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("CANDIDATES", 0) == 0) in_candidates = true;
    std::size_t bar = line.find(" | ");
    if (!in_candidates || bar == std::string::npos) continue;
    std::string code = line.substr(0, bar);
    if (!k_fake_picks.count(code)) continue;
    std::size_t open = line.find('"', line.find(" | ", bar + 3));
    std::string quote = line.substr(open + 1, line.find('"', open + 1) - open - 1);
    picks.push_back({{"code", code}, {"quote", quote}});
  }
  return nlohmann::json{{"codes", picks}}.dump();
}

class LlmCoderCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy_file(testing::icd10cm_2023_store(), db());
    fs::copy(testing::fixture("codiesp"), m_dir / "codiesp", fs::copy_options::recursive);
  }
  fs::path db() const { return m_dir / "m.db"; }
  fs::path dev() const { return m_dir / "codiesp" / "dev"; }

  // ./medcode.yaml with model `fake` on the fake's OpenAI endpoint.
  void write_config(const FakeProvider& fake, const std::string& extra = "") {
    std::ofstream(m_dir / "medcode.yaml")
        << "models:\n  fake:\n    provider: openai\n    model_id: fake-openai\n    base_url: "
        << fake.base_url("openai")
        << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
           "    prices_as_of: \"2026-11-01\"\n    requests_per_minute: 6000\n    timeout_seconds: 5\n"
        << extra;
  }

  ProcessResult medcode(std::vector<std::string> args, const std::string& key = "sk-test-secret-0123456789") {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), {{"FAKE_PROVIDER_KEY", key}, {"MEDCODE_CONFIG", ""}});
  }

  nlohmann::json evaluate_json() {
    ProcessResult result =
        medcode({"--json", "evaluate", "--codiesp", dev().string(), "--coder", "llm:fake"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? nlohmann::json::parse(result.out) : nlohmann::json::object();
  }

  std::int64_t count(const std::string& sql) { return testing::query_int(db(), sql); }

  TempDir m_dir;
};

TEST_F(LlmCoderCommand, EvaluateScoresTheModelsPicksOnCodiespAndARerunIsAnsweredFromTheLedger) {
  FakeProvider fake({}, pick_known_codes);
  write_config(fake);
  nlohmann::json result = evaluate_json();
  // Assigned: S-dev-1 {I10, E11.9}, S-dev-2 {R30.0}, S-dev-3 {R50.9}. Gold: S-dev-1 {I10, E11.9}, S-dev-2
  // {N30.00, N30.99}, S-dev-3 {R50.9}: 3 true positives, R30.0 a false one, N30.00 and N30.99 missed.
  EXPECT_EQ(result["coder"], "llm:fake");
  EXPECT_EQ(result["n_examples"], 3);
  EXPECT_EQ(result["n_predicted"], 4);
  EXPECT_EQ(result["micro"]["true_positives"], 3);
  EXPECT_EQ(result["micro"]["false_positives"], 1);
  EXPECT_EQ(result["micro"]["false_negatives"], 2);
  EXPECT_DOUBLE_EQ(result["micro"]["f1"].get<double>(), 2.0 * 3 / (2.0 * 3 + 1 + 2));
  EXPECT_DOUBLE_EQ(result["exact_match"].get<double>(), 2.0 / 3);
  EXPECT_EQ(result["llm"]["requests"], 3);
  EXPECT_EQ(result["llm"]["requests_cached"], 0);
  EXPECT_EQ(result["llm"]["picks"], 4);
  EXPECT_EQ(result["llm"]["quotes_not_found"], 0);
  EXPECT_GT(result["llm"]["cost_usd"].get<double>(), 0);
  EXPECT_EQ(fake.request_count(), 3u);
  EXPECT_EQ(
      count(
          "SELECT count(*) FROM llm_requests WHERE task = 'code-note' AND status = 'done' AND cost_usd > 0"),
      3);
  EXPECT_EQ(count("SELECT count(*) FROM evaluations WHERE coder = 'llm:fake'"), 1);
  // The key went to the provider and nowhere else.
  EXPECT_EQ(fake.requests().at(0).api_key, "sk-test-secret-0123456789");
  EXPECT_EQ(
      count("SELECT count(*) FROM llm_requests WHERE prompt LIKE '%sk-test%' OR params LIKE '%sk-test%' "
            "OR answer LIKE '%sk-test%'") +
                count("SELECT count(*) FROM llm_attempts WHERE response LIKE '%sk-test%' OR error LIKE '%sk-test%'"),
      0);

  nlohmann::json again = evaluate_json();
  EXPECT_EQ(fake.request_count(), 3u);
  EXPECT_EQ(again["llm"]["requests_cached"], 3);
  EXPECT_EQ(again["llm"]["cost_usd"], 0.0);
  EXPECT_EQ(again["micro"], result["micro"]);
}

TEST_F(LlmCoderCommand, DryRunEstimatesTheCostAndSendsNothing) {
  FakeProvider fake({}, pick_known_codes);
  write_config(fake);
  ProcessResult result =
      medcode({"--json", "evaluate", "--codiesp", dev().string(), "--coder", "llm:fake", "--dry-run"}, "");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json plan = nlohmann::json::parse(result.out);
  EXPECT_EQ(plan["notes"], 3);
  EXPECT_EQ(plan["requests"], 3);
  EXPECT_GT(plan["input_tokens"].get<std::int64_t>(), 3 * 300);  // the system prompt alone is longer
  EXPECT_GT(plan["projected_cost_usd"].get<double>(), 0);
  EXPECT_EQ(plan["prices_as_of"], "2026-11-01");
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(count("SELECT count(*) FROM evaluations"), 0);

  ProcessResult other = medcode({"evaluate", "--codiesp", dev().string(), "--coder", "index", "--dry-run"});
  EXPECT_EQ(other.exit_code, 2) << other.err;
}

TEST_F(LlmCoderCommand, ARefusedKeyStopsTheEvaluationWithExitFourAndRecordsNothing) {
  FakeProviderOptions options;
  options.required_api_key = "right-key";
  FakeProvider fake(options, pick_known_codes);
  write_config(fake);
  ProcessResult result =
      medcode({"evaluate", "--codiesp", dev().string(), "--coder", "llm:fake"}, "wrong-key");
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_NE(result.err.find("401"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("wrong-key"), std::string::npos) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM evaluations"), 0);
}

TEST_F(LlmCoderCommand, AnUnknownModelIsAUsageError) {
  FakeProvider fake;
  write_config(fake);
  ProcessResult result = medcode({"evaluate", "--codiesp", dev().string(), "--coder", "llm:nope"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("fake"), std::string::npos) << result.err;
}

TEST_F(LlmCoderCommand, ProceduresAreRefusedBeforeAnythingIsSent) {
  FakeProvider fake;
  write_config(fake);
  ASSERT_EQ(medcode({"-q", "import", "icd10pcs", "--year", "2023",
                     testing::shared_data("cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz").string(),
                     testing::shared_data("cms/icd10pcs/2023/icd10pcs_index_2023.xml.gz").string()})
                .exit_code,
            0);
  ProcessResult result =
      medcode({"evaluate", "--codiesp", dev().string(), "--task", "P", "--coder", "llm:fake"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("codes diagnoses (ICD-10-CM), not ICD-10-PCS"), std::string::npos) << result.err;
  EXPECT_EQ(fake.requests().size(), 0U);
}

TEST_F(LlmCoderCommand, PredictPrintsThePicksWithTheirWordsInTheNote) {
  FakeProvider fake({}, pick_known_codes);
  write_config(fake);
  fs::path note = dev() / "text_files_en" / "S-dev-1.txt";
  ProcessResult result =
      medcode({"predict", "--coder", "llm:fake", "--file", note.string(), "--ranked", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json out = nlohmann::json::parse(result.out);
  EXPECT_EQ(out["coder"], "llm:fake");
  std::set<std::string> assigned;
  const std::string text = testing::read_text(note);
  for (const auto& code : out["codes"]) {
    assigned.insert(code["code"].get<std::string>());
    EXPECT_TRUE(code["valid"].get<bool>());
    ASSERT_TRUE(code.contains("evidence")) << code.dump();
    for (const auto& span : code["evidence"]) {
      auto begin = span["begin"].get<std::size_t>();
      auto end = span["end"].get<std::size_t>();
      EXPECT_EQ(text.substr(begin, end - begin), span["text"].get<std::string>());
    }
  }
  EXPECT_EQ(assigned, (std::set<std::string>{"I10", "E11.9"}));
  EXPECT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE command = 'predict' AND status = 'ok'"), 1);
}

}  // namespace
}  // namespace medcode
