// Tests of the fake provider itself: each route answers in its format with usage and headers, limits and
// faults do what they say, and the default answers fit the tasks' schemas.
#include "support/fake_provider.h"

#include <gtest/gtest.h>
#include <httplib.h>

namespace medcode::testing {
namespace {

using nlohmann::json;

const std::string k_user = "COUNT: 2\nITEMS:\n[{\"id\": \"E11.9\", \"description\": \"Type 2 diabetes\"}]";

httplib::Result post(FakeProvider& fake, const std::string& path, const json& body,
                     httplib::Headers headers = {}) {
  httplib::Client client("127.0.0.1", fake.port());
  client.set_read_timeout(10, 0);
  return client.Post(path.c_str(), headers, body.dump(), "application/json");
}

json openai_body() { return {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", k_user}}}}}; }

TEST(FakeProvider, AnswersEachFormatWithUsageAndRateLimitHeaders) {
  FakeProviderOptions options;
  options.requests_per_minute = 600;
  FakeProvider fake(options);
  auto openai = post(fake, "/v1/chat/completions", openai_body(), {{"Authorization", "Bearer k1"}});
  ASSERT_TRUE(openai);
  EXPECT_EQ(openai->status, 200);
  json body = json::parse(openai->body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_GT(body["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(openai->get_header_value("x-ratelimit-limit-requests"), "600");
  json answer = json::parse(body["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_EQ(answer["items"][0]["id"], "E11.9");
  EXPECT_EQ(answer["items"][0]["clinical"].size(), 2u);

  auto anthropic =
      post(fake, "/v1/messages",
           {{"model", "m"}, {"system", "s"}, {"messages", {{{"role", "user"}, {"content", k_user}}}}},
           {{"x-api-key", "k2"}});
  ASSERT_TRUE(anthropic);
  json message = json::parse(anthropic->body);
  EXPECT_EQ(message["type"], "message");
  EXPECT_GT(message["usage"]["output_tokens"].get<int>(), 0);
  EXPECT_FALSE(anthropic->get_header_value("anthropic-ratelimit-requests-reset").empty());

  auto gemini =
      post(fake, "/v1beta/models/gem-1:generateContent",
           {{"contents", {{{"role", "user"}, {"parts", {{{"text", k_user}}}}}}}}, {{"x-goog-api-key", "k3"}});
  ASSERT_TRUE(gemini);
  json generated = json::parse(gemini->body);
  EXPECT_EQ(generated["candidates"][0]["finishReason"], "STOP");
  EXPECT_GT(generated["usageMetadata"]["promptTokenCount"].get<int>(), 0);

  auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].api_key, "k1");
  EXPECT_EQ(seen[1].api_key, "k2");
  EXPECT_EQ(seen[2].api_key, "k3");
  EXPECT_EQ(seen[2].model, "gem-1");
  EXPECT_EQ(fake.answered_ok(), 3u);
}

TEST(FakeProvider, OverItsRequestLimitAnswers429WithRetryAfter) {
  FakeProviderOptions options;
  options.requests_per_minute = 60;  // a bucket of two requests
  FakeProvider fake(options);
  int limited = 0;
  for (int i = 0; i < 4; ++i) {
    auto result = post(fake, "/v1/chat/completions", openai_body());
    if (result->status == 429) {
      ++limited;
      EXPECT_FALSE(result->get_header_value("retry-after").empty());
    }
  }
  EXPECT_EQ(limited, 2);
}

TEST(FakeProvider, FaultsComeInOrderAndEachDoesWhatItSays) {
  FakeProvider fake;
  fake.inject(ProviderFault::server_error);
  fake.inject(ProviderFault::overloaded);
  fake.inject(ProviderFault::unauthorized);
  fake.inject(ProviderFault::invalid_json);
  fake.inject(ProviderFault::schema_violation);
  fake.inject(ProviderFault::not_json_answer);
  json anthropic_body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", k_user}}}}};
  EXPECT_EQ(post(fake, "/v1/messages", anthropic_body)->status, 500);
  auto overloaded = post(fake, "/v1/messages", anthropic_body);
  EXPECT_EQ(overloaded->status, 529);
  EXPECT_EQ(json::parse(overloaded->body)["error"]["type"], "overloaded_error");
  EXPECT_EQ(post(fake, "/v1/messages", anthropic_body)->status, 401);
  auto invalid = post(fake, "/v1/messages", anthropic_body);
  EXPECT_EQ(invalid->status, 200);
  EXPECT_TRUE(json::parse(invalid->body, nullptr, false).is_discarded());
  auto violating = post(fake, "/v1/messages", anthropic_body);
  json violating_answer = json::parse(json::parse(violating->body)["content"][0]["text"].get<std::string>());
  EXPECT_TRUE(violating_answer["items"][0]["clinical"].is_string());
  auto prose = post(fake, "/v1/messages", anthropic_body);
  EXPECT_TRUE(json::parse(json::parse(prose->body)["content"][0]["text"].get<std::string>(), nullptr, false)
                  .is_discarded());
  EXPECT_EQ(post(fake, "/v1/messages", anthropic_body)->status, 200);
}

TEST(FakeProvider, TruncatedBodyIsCutAndRequiredKeyIsEnforced) {
  FakeProviderOptions options;
  options.required_api_key = "right";
  FakeProvider fake(options);
  EXPECT_EQ(post(fake, "/v1/chat/completions", openai_body(), {{"Authorization", "Bearer wrong"}})->status,
            401);
  fake.inject(ProviderFault::truncated_body);
  auto cut = post(fake, "/v1/chat/completions", openai_body(), {{"Authorization", "Bearer right"}});
  EXPECT_TRUE(!cut || json::parse(cut->body, nullptr, false).is_discarded());
}

TEST(DefaultAnswer, WritesFacetsWhenTheSchemaAsksForThem) {
  ProviderRequest request;
  request.system = "schema: {\"body_region\": ...}";
  request.user = k_user;
  request.user_messages = {k_user};
  json answer = json::parse(default_answer(request));
  EXPECT_EQ(answer["items"][0]["procedure_category"], "other");
  EXPECT_EQ(answer["items"][0]["uses_contrast"], false);
}

}  // namespace
}  // namespace medcode::testing
