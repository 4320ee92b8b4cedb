// The wire formats of the providers: OpenAI Chat Completions (and every OpenAI-compatible server), Anthropic
// Messages, Gemini generateContent, and the plain text of a local command. Each turns a chat request into an
// HTTP request and reads the provider's answer, usage, errors and rate-limit headers.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medcode/llm/http_client.h"
#include "medcode/llm/model_config.h"

namespace medcode::llm {

struct ChatMessage {
  std::string role;  // user | assistant
  std::string content;
};

struct ChatRequest {
  std::string system;
  std::vector<ChatMessage> messages;
  std::optional<nlohmann::json> schema;  // the answer's JSON schema, when the task has one
  std::string schema_name = "answer";
  std::optional<int> max_output_tokens;  // instead of the model's, for an answer that needs more room
};

// The output-token limit of a request: its own when it has one, else the model's.
int output_limit(const ModelConfig& model, const ChatRequest& request);

struct Usage {
  std::int64_t input_tokens = 0;  // all input tokens, cached ones included
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  bool estimated = false;  // true when the response had no usage and these are estimates
};

struct ChatResult {
  std::string text;            // the model's answer
  std::optional<Usage> usage;  // from the response's usage fields; nullopt when it has none
  std::string finish_reason;   // as the provider names it ("stop", "end_turn", "STOP", "length", ...)
  bool truncated = false;      // stopped by the output-token limit
  std::string response_id;
  std::string model_id;  // as the provider reports it
};

// What a provider said about its limits in the response headers; absent values are nullopt.
struct RateLimitInfo {
  std::optional<std::int64_t> limit_requests;
  std::optional<std::int64_t> remaining_requests;
  std::optional<double> reset_requests_seconds;  // until the request budget is full again
  std::optional<std::int64_t> limit_tokens;
  std::optional<std::int64_t> remaining_tokens;
  std::optional<double> reset_tokens_seconds;
  std::optional<double> retry_after_seconds;  // Retry-After (seconds or HTTP date) or retry-after-ms
};

// How a failed exchange is to be treated.
enum class FailureKind {
  retryable,     // timeout, transport error, 5xx, truncated or unreadable body: back off and try again
  rate_limited,  // 429: honour Retry-After, slow down
  overloaded,    // 529 or a provider's "overloaded" error: back off harder
  fatal,         // 400, 401, 403, 404, 422: the model's work cannot go on; exit 4
};

// Error(bad_input)-free parse failures of a 2xx body are reported as this exception (retryable).
struct MalformedResponse : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class WireFormat {
 public:
  virtual ~WireFormat() = default;
  // The HTTP request for `request`; `api_key` goes in the provider's auth header, never in the URL.
  virtual HttpRequest build(const ModelConfig& model, const ChatRequest& request,
                            const std::optional<std::string>& api_key) const = 0;
  // Reads a 2xx body; throws MalformedResponse when it is not the provider's format (truncated, not JSON,
  // no answer text).
  virtual ChatResult parse(const HttpResponse& response) const = 0;
  // The provider's own error message from a non-2xx body (falls back to the status line); never includes
  // request headers.
  virtual std::string error_message(const HttpResponse& response) const = 0;
  // The parameters that, with the prompt, identify a request in the ledger (model id, temperature, max
  // output tokens, response format): no URL, no key.
  virtual nlohmann::json cache_params(const ModelConfig& model, const ChatRequest& request) const = 0;
};

std::unique_ptr<WireFormat> make_wire_format(ProviderKind kind);

// OpenAI x-ratelimit-* (reset as "1s", "6m0s", "20ms"), Anthropic anthropic-ratelimit-* (reset as RFC 3339),
// Retry-After (seconds or HTTP date) and retry-after-ms.
RateLimitInfo parse_rate_limit_headers(const HttpResponse& response);

// The failure class of a non-2xx response or a transport failure (status 0).
FailureKind classify_failure(const HttpResponse& response);

// The request rendered as one text (system, then each message with its role, then the schema), as the
// exec provider sends it and as the token estimate counts it.
std::string render_as_text(const ChatRequest& request);

// The system prompt, followed by an instruction to answer with JSON matching the schema unless the prompt
// already holds the schema: for providers without a JSON-schema mode (Anthropic, Gemini, exec).
std::string system_with_schema(const ChatRequest& request);

// About four characters per token: the estimate used where a response has no usage, and for budgeting.
std::int64_t estimate_tokens(std::string_view text);

}  // namespace medcode::llm
