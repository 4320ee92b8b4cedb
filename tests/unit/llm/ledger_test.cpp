// Tests of the ledger: keys that change only with what is sent, in-flight rows, retries and cache lookups.
#include "medcode/llm/ledger.h"

#include <gtest/gtest.h>

#include "support/store_query.h"

namespace medcode::llm {
namespace {

ChatRequest sample_request(const std::string& user) {
  ChatRequest request;
  request.system = "You are a coder.";
  request.messages.push_back({"user", user});
  request.schema = nlohmann::json{{"type", "object"}};
  return request;
}

TEST(RequestKey, ChangesWithPromptParametersProviderAndSaltOnly) {
  nlohmann::json params = {{"model_id", "m"}, {"temperature", 0.2}};
  std::string key = request_key(ProviderKind::openai, params, sample_request("E11.9"));
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key, request_key(ProviderKind::openai, params, sample_request("E11.9")));
  EXPECT_NE(key, request_key(ProviderKind::openai, params, sample_request("E11.8")));
  EXPECT_NE(key, request_key(ProviderKind::anthropic, params, sample_request("E11.9")));
  nlohmann::json warmer = {{"model_id", "m"}, {"temperature", 0.7}};
  EXPECT_NE(key, request_key(ProviderKind::openai, warmer, sample_request("E11.9")));
  EXPECT_NE(key, request_key(ProviderKind::openai, params, sample_request("E11.9"), "fresh:3"));
}

RequestStart sample_start(const std::string& key) {
  RequestStart start;
  start.key = key;
  start.model = "gpt-4o-mini";
  start.model_id = "gpt-4o-mini";
  start.task = "descriptions";
  start.n_items = 2;
  start.prompt = prompt_json(sample_request("E11.9"));
  return start;
}

TEST(Ledger, StartMarksInFlightAndARestartCountsOneMoreAttempt) {
  auto db = store::Database::open_in_memory();
  Ledger ledger(db);
  AttemptId first = ledger.start(sample_start("k1"));
  EXPECT_EQ(testing::query_text(db, "SELECT status FROM llm_requests"), "in_flight");
  EXPECT_EQ(testing::query_text(db, "SELECT status FROM llm_attempts"), "in_flight");
  ledger.note_attempt_failure(first, 503, "HTTP 503: busy");
  AttemptId second = ledger.start(sample_start("k1"));
  EXPECT_EQ(second.request, first.request);
  EXPECT_NE(second.attempt, first.attempt);
  EXPECT_EQ(testing::query_int(db, "SELECT attempts FROM llm_requests"), 2);
  EXPECT_EQ(testing::query_int(db, "SELECT count(*) FROM llm_requests WHERE error IS NULL"), 1);
  EXPECT_EQ(testing::query_text(db, "SELECT group_concat(attempt || ':' || status, ' ') FROM llm_attempts"),
            "1:failed 2:in_flight");
  EXPECT_FALSE(ledger.find_done("k1"));
}

RequestFinish answer(const std::string& status, double cost, const std::string& text = "{\"items\":[]}") {
  RequestFinish finish;
  finish.status = status;
  finish.answer = text;
  finish.response = "{}";
  finish.http_status = 200;
  finish.usage = Usage{1000, 200, 0, false};
  finish.cost_usd = cost;
  if (status != "done") finish.error = "missing required property 'items'";
  return finish;
}

TEST(Ledger, FinishedRequestIsFoundByKeyWithItsUsageAndCost) {
  auto db = store::Database::open_in_memory();
  Ledger ledger(db);
  AttemptId id = ledger.start(sample_start("k2"));
  RequestFinish finish;
  finish.status = "done";
  finish.answer = "{\"items\":[]}";
  finish.response = "{}";
  finish.http_status = 200;
  finish.usage = Usage{1200, 300, 200, false};
  finish.cost_usd = 0.0012;
  finish.latency_ms = 850;
  ledger.finish(id, finish);
  auto cached = ledger.find_done("k2");
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->id, id.request);
  EXPECT_EQ(cached->answer, "{\"items\":[]}");
  EXPECT_EQ(cached->usage.input_tokens, 1200);
  EXPECT_EQ(cached->usage.cached_input_tokens, 200);
  EXPECT_DOUBLE_EQ(cached->cost_usd, 0.0012);
  EXPECT_FALSE(ledger.find_done("other"));
}

TEST(Ledger, InvalidOrFailedRequestsAreNotCached) {
  auto db = store::Database::open_in_memory();
  Ledger ledger(db);
  RequestFinish invalid;
  invalid.status = "invalid";
  invalid.error = "not JSON";
  ledger.finish(ledger.start(sample_start("k3")), invalid);
  EXPECT_FALSE(ledger.find_done("k3"));
}

TEST(Ledger, EveryPaidAttemptKeepsItsCostAndTheRequestSumsThem) {
  // An answer paid for, then the same request sent again (its stored answer no longer accepted): both
  // answers stay, and the request's cost is their sum rather than the last one.
  auto db = store::Database::open_in_memory();
  Ledger ledger(db);
  ledger.finish(ledger.start(sample_start("k4")), answer("done", 0.004));
  AttemptId lost = ledger.start(sample_start("k4"));
  ledger.note_attempt_failure(lost, std::nullopt, "timed out after 30 s", true);
  ledger.finish(ledger.start(sample_start("k4")), answer("done", 0.006));
  EXPECT_EQ(testing::query_int(db, "SELECT count(*) FROM llm_attempts"), 3);
  EXPECT_EQ(testing::query_text(db, "SELECT group_concat(status, ' ') FROM llm_attempts ORDER BY attempt"),
            "done lost done");
  EXPECT_DOUBLE_EQ(testing::query_double(db, "SELECT cost_usd FROM llm_requests"), 0.010);
  EXPECT_EQ(testing::query_int(db, "SELECT tokens_in FROM llm_requests"), 2000);
  EXPECT_EQ(testing::query_int(db, "SELECT attempts FROM llm_requests"), 3);
}

TEST(Ledger, ResumeReturnsTheRefusedAnswersOfARepairChainInOrder) {
  auto db = store::Database::open_in_memory();
  Ledger ledger(db);
  AttemptId first = ledger.start(sample_start("k5"));
  ledger.finish(first, answer("invalid", 0.001, "first answer"));
  RequestStart repair = sample_start("k5-repair");
  repair.repair_of = first.request;
  AttemptId second = ledger.start(repair);
  ledger.finish(second, answer("truncated", 0.002, "second answer"));
  RequestStart again = sample_start("k5-again");
  again.repair_of = second.request;
  ledger.start(again);  // in flight when the process died

  ResumePoint point = ledger.resume("k5");
  EXPECT_FALSE(point.done);
  ASSERT_EQ(point.chain.size(), 2u);
  EXPECT_EQ(point.chain[0].id, first.request);
  EXPECT_EQ(point.chain[0].status, "invalid");
  EXPECT_EQ(point.chain[0].answer, "first answer");
  EXPECT_EQ(point.chain[0].error, "missing required property 'items'");
  EXPECT_EQ(point.chain[1].status, "truncated");
  EXPECT_EQ(point.chain[1].answer, "second answer");

  // Once the end of the chain is answered, the request is done.
  ledger.finish(ledger.start(again), answer("done", 0.003));
  point = ledger.resume("k5");
  ASSERT_TRUE(point.done);
  EXPECT_EQ(ledger.find_done("k5")->cost_usd, 0.003);
  EXPECT_TRUE(ledger.resume("unknown").chain.empty());
}

}  // namespace
}  // namespace medcode::llm
