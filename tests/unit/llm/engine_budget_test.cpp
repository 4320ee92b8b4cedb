// Tests of the engine's spending cap against the fake provider: reservations from the expected output, a
// cap that is used, a stop before the request that could cross it, one request's overshoot at most (and
// said), concurrency and several models sharing one cap.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "medcode/llm/engine.h"
#include "medcode/llm/engine_outcome.h"
#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::llm {
namespace {

using testing::FakeProvider;
using testing::ProviderRequest;

constexpr double k_output_price = 10.0;  // USD per million output tokens; input is free
constexpr std::int64_t k_answer_tokens = 100;
constexpr double k_request_usd = k_answer_tokens * k_output_price / 1e6;  // one item's answer: $0.001

// Items go as "ITEMS: [{"id": ...}]"; the answer gives each a text.
class PaddedTask : public BatchTask {
 public:
  std::string name() const override { return "padded"; }
  ChatRequest make_request(std::span<const WorkItem> batch) const override {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& item : batch) items.push_back({{"id", item.key}});
    ChatRequest request;
    request.system = "Answer with a text for each item.";
    request.messages.push_back({"user", "ITEMS: " + items.dump()});
    return request;
  }
  std::string repair_message(const std::string& problem) const override { return "Fix it: " + problem; }
  AnswerReading read_answer(const nlohmann::json& answer, std::span<const WorkItem>) const override {
    AnswerReading reading;
    for (const auto& entry : answer.at("items"))
      reading.results.push_back({entry.at("id"), entry.at("text")});
    return reading;
  }
  std::int64_t expected_output_tokens(std::span<const WorkItem> batch) const override {
    return static_cast<std::int64_t>(batch.size()) * k_answer_tokens;
  }
};

// An answer for every item of the request, `tokens` output tokens long for each (the fake bills four
// characters a token).
std::string answer_of(const ProviderRequest& request, std::int64_t tokens) {
  auto items = nlohmann::json::parse(request.user.substr(request.user.find('[')));
  nlohmann::json answers = nlohmann::json::array();
  for (const auto& item : items) answers.push_back({{"id", item.at("id")}, {"text", ""}});
  auto size = static_cast<std::size_t>(4 * tokens * static_cast<std::int64_t>(items.size()));
  std::size_t bare = nlohmann::json{{"items", answers}}.dump().size();
  answers[0]["text"] = std::string(size - bare, 'x');
  return nlohmann::json{{"items", answers}}.dump();
}

class EngineBudget : public ::testing::Test {
 protected:
  ModelConfig model(const FakeProvider& fake, const std::string& name, int max_output_tokens,
                    int concurrency = 4) const {
    ModelConfig config;
    config.name = name;
    config.provider = ProviderKind::openai;
    config.model_id = "fake-openai";
    config.base_url = fake.base_url("openai");
    config.pricing.output_per_million = k_output_price;
    config.requests_per_minute = 60000;
    config.max_output_tokens = max_output_tokens;
    config.timeout_seconds = 5;
    config.initial_concurrency = concurrency;
    config.max_concurrency = concurrency;
    return config;
  }

  static std::vector<WorkItem> items(int n, const std::string& prefix = "item") {
    std::vector<WorkItem> work;
    for (int i = 0; i < n; ++i) work.push_back({prefix + std::to_string(i), nlohmann::json::object()});
    return work;
  }

  EngineResult run(std::vector<ModelWork> work, std::optional<double> cap,
                   std::optional<int> batch_size = 1) {
    EngineOptions options;
    options.max_cost_usd = cap;
    options.fixed_batch_size = batch_size;
    options.seed = 1;
    ResultSink on_results = [&](const std::string&, std::int64_t, const std::vector<ItemResult>& results) {
      m_results += static_cast<int>(results.size());
    };
    FailureSink on_failure = [](const std::string&, const std::vector<std::string>&, const std::string&) {};
    return run_engine(m_db, m_task, std::move(work), on_results, on_failure, options);
  }

  std::int64_t count(const std::string& sql) { return testing::query_int(m_db, sql); }

  testing::TempDir m_dir;
  store::Database m_db = store::Database::open(m_dir / "m.db");
  PaddedTask m_task;
  int m_results = 0;
};

TEST_F(EngineBudget, ACapOfTenRequestsRunsAboutTenAndStopsBeforeTheOneThatCouldCrossIt) {
  FakeProvider fake({}, [](const ProviderRequest& request) { return answer_of(request, k_answer_tokens); });
  // One request may use 2,000 output tokens ($0.02, twice the cap); it is expected to use 100 ($0.001).
  ModelConfig config = model(fake, "m", 2000);
  const double cap = 10 * k_request_usd;
  EngineResult result = run({{&config, items(30)}}, cap);
  EXPECT_TRUE(result.budget_exhausted);
  std::int64_t requests = count("SELECT count(*) FROM llm_requests");
  EXPECT_GE(requests, 8);
  EXPECT_LE(requests, 11);
  EXPECT_EQ(m_results, requests);
  EXPECT_EQ(result.items_left, 30 - requests);
  EXPECT_LE(result.cost_usd, cap + 1e-12);
  EXPECT_GT(result.cost_usd + result.next_request_usd, cap) << "it stopped before it had to";
  EXPECT_LT(result.next_request_usd, 2 * k_request_usd) << "the next request is reserved at its estimate";
  ASSERT_TRUE(result.max_cost_usd);
  EXPECT_EQ(*result.max_cost_usd, cap);
  // Each request went only when what was spent before it and its reservation stayed within the cap.
  auto attempts = m_db.prepare("SELECT reserved_usd, cost_usd FROM llm_attempts ORDER BY id");
  double spent = 0;
  while (attempts.step()) {
    EXPECT_LE(spent + attempts.column_double(0), cap + 1e-12) << "after $" << spent;
    EXPECT_LT(attempts.column_double(0), 0.01) << "an estimate, not the worst case";
    spent += attempts.column_double(1);
  }
  EngineVerdict verdict = judge_engine_result(result);
  EXPECT_EQ(verdict.code, ExitCode::policy);
  ASSERT_EQ(verdict.errors.size(), 1u);
  EXPECT_NE(
      verdict.errors[0].find(fmt::format("spending cap reached: spent ${:.4f} of $0.0100", result.cost_usd)),
      std::string::npos)
      << verdict.errors[0];
}

TEST_F(EngineBudget, ACapBelowOneRequestsWorstCaseButAboveItsExpectedCostStillSends) {
  FakeProvider fake({}, [](const ProviderRequest& request) { return answer_of(request, k_answer_tokens); });
  ModelConfig config = model(fake, "m", 2000);
  EngineResult result = run({{&config, items(5)}}, 3 * k_request_usd);
  EXPECT_TRUE(result.budget_exhausted);
  EXPECT_GE(fake.request_count(), 1u);
  EXPECT_LE(result.cost_usd, 3 * k_request_usd + 1e-12);
  EXPECT_GT(m_results, 0);
}

TEST_F(EngineBudget, ACapOfZeroSendsNothingAndIsAPolicyStop) {
  FakeProvider fake({}, [](const ProviderRequest& request) { return answer_of(request, k_answer_tokens); });
  ModelConfig config = model(fake, "m", 2000);
  EngineResult result = run({{&config, items(5)}}, 0.0);
  EXPECT_TRUE(result.budget_exhausted);
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(result.items_left, 5);
  EXPECT_GT(result.next_request_usd, 0);
  EngineVerdict verdict = judge_engine_result(result);
  EXPECT_EQ(verdict.code, ExitCode::policy);
  EXPECT_NE(verdict.errors.at(0).find("before anything was sent"), std::string::npos) << verdict.errors[0];
}

TEST_F(EngineBudget, UnderATightCapTheFirstBatchIsOneItemToLearnTheCostCheaply) {
  FakeProvider fake({}, [](const ProviderRequest& request) { return answer_of(request, k_answer_tokens); });
  ModelConfig config = model(fake, "m", 2000);
  // Ten items a batch could cost $0.02 at worst, over the cap: the first request carries one.
  EngineResult result = run({{&config, items(30)}}, 15 * k_request_usd, 10);
  auto requests = fake.requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(requests[0].user.substr(requests[0].user.find('['))).size(), 1u);
  EXPECT_GT(nlohmann::json::parse(requests[1].user.substr(requests[1].user.find('['))).size(), 1u);
  EXPECT_LE(result.cost_usd, 15 * k_request_usd + 1e-12);
  EXPECT_GE(m_results, 10);
}

TEST_F(EngineBudget, AnAnswerLongerThanItsEstimateCrossesTheCapByAtMostOneRequestAndSaysSo) {
  std::atomic<int> answers = 0;
  FakeProvider fake({}, [&](const ProviderRequest& request) {
    return answer_of(request, ++answers == 3 ? 1500 : k_answer_tokens);
  });
  ModelConfig config = model(fake, "m", 2000);
  const double cap = 10 * k_request_usd;
  EngineResult result = run({{&config, items(30)}}, cap);
  EXPECT_TRUE(result.budget_exhausted);
  EXPECT_GT(result.cost_usd, cap);
  EXPECT_LE(result.cost_usd, cap + 2000 * k_output_price / 1e6);
  EngineVerdict verdict = judge_engine_result(result);
  EXPECT_NE(verdict.errors.at(0).find(fmt::format("spent ${:.4f} of $0.0100, ${:.4f} over the cap",
                                                  result.cost_usd, result.cost_usd - cap)),
            std::string::npos)
      << verdict.errors[0];
}

TEST_F(EngineBudget, ConcurrentRequestsNeverStakeMoreThanOneWorstCaseOverTheCap) {
  // Every fourth answer is near the output limit: far longer than the estimates.
  std::atomic<int> answers = 0;
  testing::FakeProviderOptions options;
  options.latency = std::chrono::milliseconds(20);
  FakeProvider fake(options, [&](const ProviderRequest& request) {
    return answer_of(request, ++answers % 4 == 0 ? 290 : k_answer_tokens);
  });
  ModelConfig config = model(fake, "m", 300, 8);
  const double cap = 30 * k_request_usd;
  const double worst = 300 * k_output_price / 1e6;
  EngineResult result = run({{&config, items(80)}}, cap);
  EXPECT_TRUE(result.budget_exhausted);
  EXPECT_LE(result.cost_usd, cap + worst);
  EXPECT_GE(result.cost_usd, cap - 2 * worst) << "the cap is used";
}

TEST_F(EngineBudget, TwoModelsSideBySideReleaseTheirReservationsAsTheySettle) {
  FakeProvider fake({}, [](const ProviderRequest& request) { return answer_of(request, k_answer_tokens); });
  ModelConfig a = model(fake, "a", 400);
  ModelConfig b = model(fake, "b", 400);
  // Enough for all 40 requests with a little to spare: reservations left behind would stop the run early.
  EngineResult result = run({{&a, items(20, "a")}, {&b, items(20, "b")}}, 42 * k_request_usd);
  EXPECT_FALSE(result.budget_exhausted);
  EXPECT_EQ(result.items_left, 0);
  EXPECT_EQ(m_results, 40);
  EXPECT_NEAR(result.cost_usd, 40 * k_request_usd, 1e-9);
}

TEST_F(EngineBudget, TwoModelsSideBySideShareOneCap) {
  FakeProvider fake({}, [](const ProviderRequest& request) { return answer_of(request, k_answer_tokens); });
  ModelConfig a = model(fake, "a", 400);
  ModelConfig b = model(fake, "b", 400);
  const double cap = 12 * k_request_usd;
  EngineResult result = run({{&a, items(20, "a")}, {&b, items(20, "b")}}, cap);
  EXPECT_TRUE(result.budget_exhausted);
  EXPECT_LE(result.cost_usd, cap + 1e-12);
  EXPECT_GE(result.cost_usd, cap - 3 * k_request_usd);
  EXPECT_NEAR(result.models.at(0).cost_usd + result.models.at(1).cost_usd, result.cost_usd, 1e-12);
  EXPECT_EQ(result.items_left, 40 - m_results);
}

}  // namespace
}  // namespace medcode::llm
