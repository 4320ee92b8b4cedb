// End-to-end tests of `generate --max-cost` against the fake provider: a cap is used up to the request that
// could cross it, a cap below one request's worst case still sends, a cap of 0 sends nothing, an answer
// longer than its estimate is owned up to; and batch-size changes on the console at -v.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::FakeProvider;
using testing::ProcessResult;
using testing::ProviderRequest;
using testing::query_double;
using testing::query_int;
using testing::TempDir;

constexpr std::int64_t k_answer_tokens = 200;  // what every answer is billed (one code a request)
constexpr double k_output_price = 50;          // USD per million output tokens; input is free
constexpr double k_request_usd = k_answer_tokens * k_output_price / 1e6;  // $0.01
constexpr int k_max_output_tokens = 4000;  // a request's worst case: $0.20, twenty times its expected cost
constexpr double k_worst_usd = k_max_output_tokens * k_output_price / 1e6;

// The fake's valid descriptions, padded with trailing blanks to `tokens` output tokens (four characters a
// token).
std::string padded_answer(const ProviderRequest& request, std::int64_t tokens) {
  std::string text = testing::default_answer(request);
  auto size = static_cast<std::size_t>(4 * tokens);
  if (text.size() < size) text.append(size - text.size(), ' ');
  return text;
}

class SpendingCap : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), db()); }

  fs::path db() const { return m_dir / "m.db"; }

  void write_model(const FakeProvider& fake, const std::string& extra = "") {
    std::ofstream(m_dir / "medcode.yaml")
        << "models:\n  m:\n    provider: openai\n    model_id: fake-openai\n    base_url: "
        << fake.base_url("openai")
        << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0\n    output_per_million: "
        << k_output_price << "\n    max_output_tokens: " << k_max_output_tokens
        << "\n    prices_as_of: \"2026-11-01\"\n    requests_per_minute: 6000\n    timeout_seconds: 5\n"
        << extra;
  }

  ProcessResult generate(const std::string& cap, int sample = 30, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--db",     db().string(),          "generate", "--task", "descriptions", "--model", "m",
        "--sample", std::to_string(sample), "--seed",   "3",      "--count",      "1",       "--batch-size",
        "1"};
    if (!cap.empty()) args.insert(args.end(), {"--max-cost", cap});
    args.insert(args.begin(), extra.begin(), extra.end());
    return testing::run_medcode(args, m_dir.path(),
                                {{"FAKE_PROVIDER_KEY", "sk-test-0123456789"}, {"MEDCODE_CONFIG", ""}});
  }

  std::int64_t count(const std::string& sql) { return query_int(db(), sql); }
  double spent() { return query_double(db(), "SELECT total(cost_usd) FROM llm_attempts"); }

  TempDir m_dir;
};

TEST_F(SpendingCap, ACapOfTenRequestsRunsAboutTenAndNamesTheSpendAndTheCap) {
  FakeProvider fake({},
                    [](const ProviderRequest& request) { return padded_answer(request, k_answer_tokens); });
  write_model(fake);
  const double cap = 10 * k_request_usd;
  ProcessResult result = generate("0.10");
  EXPECT_EQ(result.exit_code, 6) << result.err;
  std::int64_t requests = count("SELECT count(*) FROM llm_requests");
  EXPECT_GE(requests, 8) << result.err;
  EXPECT_LE(requests, 11) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status = 'done'"), requests);
  EXPECT_LE(spent(), cap + k_worst_usd);
  EXPECT_NE(result.err.find(
                fmt::format("spending cap reached: spent ${:.4f} of $0.1000 (next request ~$", spent())),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find(fmt::format("{} items left", 30 - requests)), std::string::npos) << result.err;
  EXPECT_EQ(count("SELECT exit_code FROM runs WHERE command = 'generate'"), 6);
  // Run again with the same cap: the rest goes on from where it stopped.
  ProcessResult again = generate("0.10");
  EXPECT_EQ(again.exit_code, 6) << again.err;
  EXPECT_GT(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), requests);
}

TEST_F(SpendingCap, ACapBelowOneRequestsWorstCaseButAboveItsExpectedCostStillSends) {
  FakeProvider fake({},
                    [](const ProviderRequest& request) { return padded_answer(request, k_answer_tokens); });
  write_model(fake);
  ProcessResult result = generate("0.03", 5);  // $0.20 at worst, about $0.01 expected
  EXPECT_EQ(result.exit_code, 6) << result.err;
  EXPECT_GE(fake.request_count(), 1u);
  EXPECT_GE(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), 1);
  EXPECT_LE(spent(), 0.03 + 1e-9);
  EXPECT_NE(result.err.find("of $0.0300"), std::string::npos) << result.err;
}

TEST_F(SpendingCap, ACapOfZeroSendsNothingAndExitsSix) {
  FakeProvider fake({},
                    [](const ProviderRequest& request) { return padded_answer(request, k_answer_tokens); });
  write_model(fake);
  ProcessResult result = generate("0", 5);
  EXPECT_EQ(result.exit_code, 6) << result.err;
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests"), 0);
  EXPECT_NE(
      result.err.find("spending cap reached before anything was sent: the first request would cost about $"),
      std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("over the cap of $0.0000; 5 items left"), std::string::npos) << result.err;
}

TEST_F(SpendingCap, AnAnswerLongerThanItsEstimateMayCrossTheCapByOneRequestAndIsOwnedUpTo) {
  std::atomic<int> answers = 0;
  FakeProvider fake({}, [&](const ProviderRequest& request) {
    return padded_answer(request, ++answers == 3 ? 3000 : k_answer_tokens);  // the third: $0.15
  });
  write_model(fake);
  ProcessResult result = generate("0.10");
  EXPECT_EQ(result.exit_code, 6) << result.err;
  double total = spent();
  EXPECT_GT(total, 0.10);
  EXPECT_LE(total, 0.10 + k_worst_usd);
  std::string over = fmt::format("${:.4f} over the", total - 0.10);
  EXPECT_NE(result.err.find(fmt::format("spent ${:.4f}, {} --max-cost cap of $0.1000", total, over)),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find(fmt::format("spent ${:.4f} of $0.1000, {} cap", total, over)), std::string::npos)
      << result.err;
}

TEST_F(SpendingCap, BatchSizeChangesAreLoggedAtVerbose) {
  FakeProvider fake;
  write_model(
      fake, "    batch_size: 2\n    max_batch_size: 4\n    initial_concurrency: 1\n    max_concurrency: 1\n");
  std::vector<std::string> args = {"--db",         db().string(), "-v",      "generate", "--task",
                                   "descriptions", "--model",     "m",       "--sample", "20",
                                   "--seed",       "3",           "--count", "1"};
  ProcessResult result = testing::run_medcode(
      args, m_dir.path(), {{"FAKE_PROVIDER_KEY", "sk-test-0123456789"}, {"MEDCODE_CONFIG", ""}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("m: batch size 2 → 3 after 3 straight successes"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("m: batch size 3 → 4 after 3 straight successes"), std::string::npos)
      << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM batch_size_history WHERE reason = '3 straight successes'"), 2);
  // Without -v, no such line.
  fs::remove(db());
  fs::copy_file(testing::icd10cm_2023_store(), db());
  args.erase(args.begin() + 2);
  ProcessResult quiet = testing::run_medcode(
      args, m_dir.path(), {{"FAKE_PROVIDER_KEY", "sk-test-0123456789"}, {"MEDCODE_CONFIG", ""}});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("batch size 2 → 3"), std::string::npos) << quiet.err;
}

}  // namespace
}  // namespace medcode
