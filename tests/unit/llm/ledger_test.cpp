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
  std::int64_t id = ledger.start(sample_start("k1"));
  EXPECT_EQ(testing::query_text(db, "SELECT status FROM llm_requests"), "in_flight");
  ledger.note_attempt_failure(id, 503, "HTTP 503: busy");
  EXPECT_EQ(ledger.start(sample_start("k1")), id);
  EXPECT_EQ(testing::query_int(db, "SELECT attempts FROM llm_requests"), 2);
  EXPECT_EQ(testing::query_int(db, "SELECT count(*) FROM llm_requests WHERE error IS NULL"), 1);
  EXPECT_FALSE(ledger.find_done("k1"));
}

TEST(Ledger, FinishedRequestIsFoundByKeyWithItsUsageAndCost) {
  auto db = store::Database::open_in_memory();
  Ledger ledger(db);
  std::int64_t id = ledger.start(sample_start("k2"));
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
  EXPECT_EQ(cached->id, id);
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

}  // namespace
}  // namespace medcode::llm
