// Tests of the wire formats: requests as each provider expects them, answers, usage, errors and headers.
#include "medcode/llm/wire_format.h"

#include <gtest/gtest.h>

namespace medcode::llm {
namespace {

using nlohmann::json;

ModelConfig model_of(ProviderKind kind, std::string base_url) {
  ModelConfig model;
  model.name = "m";
  model.provider = kind;
  model.model_id = "model-x";
  model.base_url = std::move(base_url);
  model.max_output_tokens = 777;
  model.temperature = 0.3;
  return model;
}

ChatRequest sample_request() {
  ChatRequest request;
  request.system = "You are a coder.";
  request.messages = {{"user", "Describe E11.9"}, {"assistant", "{}"}, {"user", "Fix it"}};
  request.schema = json{{"type", "object"}, {"required", {"items"}}};
  request.schema_name = "descriptions";
  return request;
}

std::string header(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "";
}

HttpResponse response_of(int status, std::string body, Headers headers = {}) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

TEST(OpenAiWireFormat, BuildsChatCompletionsWithJsonSchemaAndBearerKey) {
  auto wire = make_wire_format(ProviderKind::openai);
  HttpRequest http =
      wire->build(model_of(ProviderKind::openai, "https://api.example/v1"), sample_request(), "sk-1");
  EXPECT_EQ(http.url, "https://api.example/v1/chat/completions");
  EXPECT_EQ(header(http, "Authorization"), "Bearer sk-1");
  json body = json::parse(http.body);
  EXPECT_EQ(body["model"], "model-x");
  EXPECT_EQ(body["max_tokens"], 777);
  EXPECT_EQ(body["messages"][0], json({{"role", "system"}, {"content", "You are a coder."}}));
  EXPECT_EQ(body["messages"].size(), 4u);
  EXPECT_EQ(body["response_format"]["type"], "json_schema");
  EXPECT_EQ(body["response_format"]["json_schema"]["name"], "descriptions");
  ModelConfig object_mode = model_of(ProviderKind::openai, "http://127.0.0.1:8000/v1");
  object_mode.json_mode = JsonMode::object;
  HttpRequest local = wire->build(object_mode, sample_request(), std::nullopt);
  EXPECT_EQ(json::parse(local.body)["response_format"], json({{"type", "json_object"}}));
  EXPECT_EQ(header(local, "Authorization"), "");
}

TEST(OpenAiWireFormat, ReadsAnswerUsageWithCachedTokensAndTruncation) {
  auto wire = make_wire_format(ProviderKind::openai);
  ChatResult result = wire->parse(response_of(200, R"({"id": "c1", "model": "gpt-4o-mini-2024",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "{\"items\": []}"}, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 100}}})"));
  EXPECT_EQ(result.text, R"({"items": []})");
  EXPECT_TRUE(result.truncated);
  ASSERT_TRUE(result.usage);
  EXPECT_EQ(result.usage->input_tokens, 120);
  EXPECT_EQ(result.usage->output_tokens, 30);
  EXPECT_EQ(result.usage->cached_input_tokens, 100);
  EXPECT_EQ(result.model_id, "gpt-4o-mini-2024");
  EXPECT_FALSE(wire->parse(response_of(200, R"({"choices": [{"message": {"content": "x"}}]})")).usage);
  EXPECT_THROW(wire->parse(response_of(200, R"({"choices": [{"message": {"con)")), MalformedResponse);
  EXPECT_THROW(wire->parse(response_of(200, R"({"choices": []})")), MalformedResponse);
  EXPECT_EQ(wire->error_message(response_of(401, R"({"error": {"message": "Incorrect API key provided"}})")),
            "Incorrect API key provided");
}

TEST(AnthropicWireFormat, BuildsMessagesWithVersionKeyAndSchemaInTheSystemPrompt) {
  auto wire = make_wire_format(ProviderKind::anthropic);
  HttpRequest http = wire->build(model_of(ProviderKind::anthropic, "https://api.anthropic.com/v1"),
                                 sample_request(), "ak-1");
  EXPECT_EQ(http.url, "https://api.anthropic.com/v1/messages");
  EXPECT_EQ(header(http, "x-api-key"), "ak-1");
  EXPECT_EQ(header(http, "anthropic-version"), "2023-06-01");
  json body = json::parse(http.body);
  EXPECT_EQ(body["max_tokens"], 777);
  EXPECT_EQ(body["messages"].size(), 3u);
  EXPECT_NE(body["system"].get<std::string>().find(R"("required":["items"])"), std::string::npos);
  EXPECT_FALSE(body.contains("response_format"));
}

TEST(AnthropicWireFormat, CountsCacheReadsAndWritesAsInput) {
  auto wire = make_wire_format(ProviderKind::anthropic);
  ChatResult result = wire->parse(response_of(200, R"({"id": "msg_1", "type": "message", "role": "assistant",
    "content": [{"type": "text", "text": "{\"a\""}, {"type": "text", "text": ": 1}"}], "stop_reason": "end_turn",
    "usage": {"input_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5,
              "output_tokens": 9}})"));
  EXPECT_EQ(result.text, R"({"a": 1})");
  EXPECT_FALSE(result.truncated);
  EXPECT_EQ(result.usage->input_tokens, 125);
  EXPECT_EQ(result.usage->cached_input_tokens, 100);
  EXPECT_EQ(result.usage->output_tokens, 9);
  EXPECT_THROW(wire->parse(response_of(200, R"({"content": []})")), MalformedResponse);
  EXPECT_EQ(wire->error_message(response_of(529, R"({"type": "error", "error": {"type": "overloaded_error",
    "message": "Overloaded"}})")),
            "overloaded_error: Overloaded");
}

TEST(GeminiWireFormat, BuildsGenerateContentWithKeyInAHeaderNeverTheUrl) {
  auto wire = make_wire_format(ProviderKind::gemini);
  HttpRequest http =
      wire->build(model_of(ProviderKind::gemini, "https://generativelanguage.googleapis.com/v1beta"),
                  sample_request(), "gk-1");
  EXPECT_EQ(http.url, "https://generativelanguage.googleapis.com/v1beta/models/model-x:generateContent");
  EXPECT_EQ(http.url.find("gk-1"), std::string::npos);
  EXPECT_EQ(header(http, "x-goog-api-key"), "gk-1");
  json body = json::parse(http.body);
  EXPECT_EQ(body["contents"][1]["role"], "model");
  EXPECT_EQ(body["generationConfig"]["maxOutputTokens"], 777);
  EXPECT_EQ(body["generationConfig"]["responseMimeType"], "application/json");
  EXPECT_NE(body["systemInstruction"]["parts"][0]["text"].get<std::string>().find("You are a coder."),
            std::string::npos);
}

TEST(GeminiWireFormat, ReadsCandidatesAndUsageMetadata) {
  auto wire = make_wire_format(ProviderKind::gemini);
  ChatResult result = wire->parse(response_of(200, R"({"candidates": [{"content": {"role": "model",
    "parts": [{"text": "{}"}]}, "finishReason": "MAX_TOKENS"}], "usageMetadata": {"promptTokenCount": 50,
    "candidatesTokenCount": 7, "cachedContentTokenCount": 10}, "modelVersion": "gemini-2.0-flash"})"));
  EXPECT_EQ(result.text, "{}");
  EXPECT_TRUE(result.truncated);
  EXPECT_EQ(result.usage->input_tokens, 50);
  EXPECT_EQ(result.usage->cached_input_tokens, 10);
  EXPECT_EQ(wire->error_message(response_of(400, R"({"error": {"code": 400, "message": "API key not valid",
    "status": "INVALID_ARGUMENT"}})")),
            "INVALID_ARGUMENT: API key not valid");
  EXPECT_THROW(wire->parse(response_of(200, "<html>")), MalformedResponse);
}

TEST(ExecWireFormat, SendsThePromptAsTextAndReadsStdout) {
  auto wire = make_wire_format(ProviderKind::exec);
  ModelConfig model = model_of(ProviderKind::exec, "");
  model.command = {"my-llm"};
  HttpRequest http = wire->build(model, sample_request(), std::nullopt);
  EXPECT_NE(http.body.find("You are a coder."), std::string::npos);
  EXPECT_NE(http.body.find("Fix it"), std::string::npos);
  EXPECT_NE(http.body.find(R"("required":["items"])"), std::string::npos);
  ChatResult result = wire->parse(response_of(200, "  {\"a\": 1}\n"));
  EXPECT_EQ(result.text, "{\"a\": 1}");
  EXPECT_FALSE(result.usage);
  EXPECT_THROW(wire->parse(response_of(200, "\n")), MalformedResponse);
}

TEST(WireFormat, CacheParametersHoldNoUrlAndNoKey) {
  for (auto kind : {ProviderKind::openai, ProviderKind::anthropic, ProviderKind::gemini}) {
    auto wire = make_wire_format(kind);
    json params = wire->cache_params(model_of(kind, "https://secret-host.example/v1"), sample_request());
    EXPECT_EQ(params.dump().find("secret-host"), std::string::npos);
    EXPECT_EQ(params["model_id"], "model-x");
  }
}

TEST(RateLimitHeaders, ReadsOpenAiDurationsAndRetryAfterSeconds) {
  HttpResponse response = response_of(429, "",
                                      {{"x-ratelimit-limit-requests", "3000"},
                                       {"x-ratelimit-remaining-requests", "0"},
                                       {"x-ratelimit-reset-requests", "1m2.5s"},
                                       {"x-ratelimit-remaining-tokens", "1200"},
                                       {"x-ratelimit-reset-tokens", "20ms"},
                                       {"retry-after", "7"}});
  RateLimitInfo info = parse_rate_limit_headers(response);
  EXPECT_EQ(info.limit_requests, 3000);
  EXPECT_EQ(info.remaining_requests, 0);
  EXPECT_NEAR(*info.reset_requests_seconds, 62.5, 1e-9);
  EXPECT_EQ(info.remaining_tokens, 1200);
  EXPECT_NEAR(*info.reset_tokens_seconds, 0.02, 1e-9);
  EXPECT_NEAR(*info.retry_after_seconds, 7, 1e-9);
  EXPECT_NEAR(
      *parse_rate_limit_headers(response_of(429, "", {{"retry-after-ms", "1500"}})).retry_after_seconds, 1.5,
      1e-9);
}

TEST(RateLimitHeaders, ReadsAnthropicTimesAndHttpDates) {
  RateLimitInfo info =
      parse_rate_limit_headers(response_of(200, "",
                                           {{"anthropic-ratelimit-requests-limit", "50"},
                                            {"anthropic-ratelimit-requests-remaining", "49"},
                                            {"anthropic-ratelimit-requests-reset", "2099-01-01T00:00:00Z"},
                                            {"anthropic-ratelimit-input-tokens-remaining", "40000"}}));
  EXPECT_EQ(info.limit_requests, 50);
  EXPECT_EQ(info.remaining_requests, 49);
  EXPECT_GT(*info.reset_requests_seconds, 1e6);
  EXPECT_EQ(info.remaining_tokens, 40000);
  auto past =
      parse_rate_limit_headers(response_of(429, "", {{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}}));
  EXPECT_EQ(past.retry_after_seconds, 0.0);
  EXPECT_FALSE(parse_rate_limit_headers(response_of(200, "")).retry_after_seconds);
}

TEST(ClassifyFailure, SortsStatusesIntoRetryRateLimitOverloadAndFatal) {
  HttpResponse timed_out;
  timed_out.timed_out = true;
  EXPECT_EQ(classify_failure(timed_out), FailureKind::retryable);
  EXPECT_EQ(classify_failure(response_of(0, "")), FailureKind::retryable);
  EXPECT_EQ(classify_failure(response_of(500, "")), FailureKind::retryable);
  EXPECT_EQ(classify_failure(response_of(502, "")), FailureKind::retryable);
  EXPECT_EQ(classify_failure(response_of(408, "")), FailureKind::retryable);
  EXPECT_EQ(classify_failure(response_of(429, "")), FailureKind::rate_limited);
  EXPECT_EQ(classify_failure(response_of(529, "")), FailureKind::overloaded);
  EXPECT_EQ(classify_failure(response_of(503, R"({"error": {"status": "UNAVAILABLE"}})")),
            FailureKind::overloaded);
  for (int status : {400, 401, 403, 404, 422})
    EXPECT_EQ(classify_failure(response_of(status, "")), FailureKind::fatal);
}

TEST(EstimateTokens, AboutFourCharactersEach) {
  EXPECT_EQ(estimate_tokens(""), 0);
  EXPECT_EQ(estimate_tokens("abc"), 1);
  EXPECT_EQ(estimate_tokens(std::string(400, 'x')), 100);
}

}  // namespace
}  // namespace medcode::llm
