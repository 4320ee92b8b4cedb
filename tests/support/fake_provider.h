// A fake LLM provider on 127.0.0.1 that speaks the OpenAI Chat Completions, Anthropic Messages and Gemini
// generateContent wire formats faithfully (usage fields, rate-limit headers, error bodies), enforces its own
// requests- and tokens-per-minute limits with 429s, and injects faults on demand.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace medcode::testing {

// What a fault does to one request.
enum class ProviderFault {
  server_error,      // 500 with the provider's error body
  overloaded,        // 529 (Anthropic's overloaded_error; 503 UNAVAILABLE for Gemini, 503 for OpenAI)
  rate_limited,      // 429 with Retry-After (retry_after_seconds) and the provider's rate-limit headers
  unauthorized,      // 401 with the provider's error body
  bad_request,       // 400
  timeout,           // holds the request for timeout_hold before answering (longer than the client waits)
  truncated_body,    // announces the full length, sends half of the body, closes the connection
  invalid_json,      // 200 with a body that is not JSON
  schema_violation,  // 200, well-formed wire JSON, but the answer text is JSON that breaks the task schema
                     // (for a conversation: the first turn by a "nurse")
  not_json_answer,   // 200, well-formed wire JSON, the answer text is prose
  output_limit,      // 200, the answer cut at half with the provider's "stopped at max tokens" reason
};

// What the fake's answers would be billed: every answer it produced, read by the client or not (timeouts
// and cut bodies included; a 4xx/5xx or a 502 page is not billed).
struct ProviderBill {
  std::int64_t answers = 0;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
};

struct FakeProviderOptions {
  std::chrono::milliseconds latency{0};  // added to every answer
  int requests_per_minute = 0;           // 0: unlimited; over it: 429 with headers
  int tokens_per_minute = 0;             // 0: unlimited
  // How the limits are counted. 0: a bucket refilled continuously that holds two seconds' worth. N > 0:
  // fixed windows of N seconds from the fake's start, each allowing N/60 of the per-minute limits (at
  // least one request), as providers that enforce per second, per ten seconds or per minute do; the
  // headers then give what is left of the window and when it ends.
  int window_seconds = 0;
  double retry_after_seconds = 1;  // sent with 429s
  std::chrono::milliseconds timeout_hold{3000};
  bool send_usage = true;        // false: responses carry no usage fields
  // Random faults: each request without a queued fault gets one of `fault_mix` with this probability
  // (drawn from a generator seeded with fault_seed, so a run is repeatable in its sequence of draws).
  double fault_rate = 0;
  std::vector<ProviderFault> fault_mix;
  std::uint64_t fault_seed = 1;
  std::string required_api_key;  // when set, requests without it get 401
};

// What the fake saw of one request.
struct ProviderRequest {
  std::string format;  // openai | anthropic | gemini
  std::string path;
  std::string model;
  std::string api_key;                     // from Authorization: Bearer, x-api-key or x-goog-api-key
  std::string system;                      // the system prompt
  std::string user;                        // the last user message
  std::vector<std::string> user_messages;  // every user message, in order
  std::size_t n_messages = 0;
  nlohmann::json body;
  int status = 0;                       // what the fake answered
  std::uint64_t serial = 0;             // in the answer's id: chatcmpl-fakeN, msg_fakeN, or responseId fakeN
  std::int64_t billed_input_tokens = 0;  // what its answer is billed (0 when no answer was produced)
  std::int64_t billed_output_tokens = 0;
};

// Makes the answer text for a request from its system prompt and last user message.
using Answerer = std::function<std::string(const ProviderRequest& request)>;

// Answers the prompts medcode's descriptions and facets tasks send: reads the JSON array of items after the
// "ITEMS:" line of the latest user message that has one (a repair prompt follows the original) and writes a
// valid answer for each item (descriptions when the system prompt's schema asks for "clinical", facets when
// it asks for "body_region"). A conversation prompt (a "PACKET:" line) gets a valid doctor–patient
// conversation of MIN_TURNS turns or one more, drawn from the packet's admission, diagnoses and labs.
std::string default_answer(const ProviderRequest& request);

class FakeProvider {
 public:
  // Listens on 127.0.0.1 at a port the system picks. Routes: POST /v1/chat/completions (OpenAI),
  // POST /v1/messages (Anthropic), POST /v1beta/models/{model}:generateContent (Gemini).
  explicit FakeProvider(FakeProviderOptions options = {}, Answerer answerer = default_answer);
  ~FakeProvider();
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  int port() const { return m_port; }
  std::string base_url(
      const std::string& format) const;  // ".../v1" for openai and anthropic, ".../v1beta" for gemini

  // The next `count` requests get `fault` (queued after faults already waiting).
  void inject(ProviderFault fault, int count = 1);
  void set_latency(std::chrono::milliseconds latency);

  std::vector<ProviderRequest> requests() const;
  std::size_t request_count() const;
  std::size_t answered_ok() const;  // 200s with a valid answer
  ProviderBill billed() const;

 private:
  void handle(const std::string& format, const httplib::Request& request, httplib::Response& response);
  // Takes one request and `tokens` from the buckets; false (and nothing taken) when over a limit.
  bool admit(std::int64_t tokens);

  FakeProviderOptions m_options;
  Answerer m_answerer;
  std::unique_ptr<httplib::Server> m_server;
  std::thread m_thread;
  int m_port = 0;
  mutable std::mutex m_mutex;
  std::deque<ProviderFault> m_faults;
  std::mt19937_64 m_fault_random;
  std::vector<ProviderRequest> m_requests;
  std::size_t m_answered_ok = 0;
  ProviderBill m_billed;
  // Per-minute limits as token buckets holding two seconds' worth, refilled continuously.
  double m_request_budget = 0;
  double m_token_budget = 0;
  std::chrono::steady_clock::time_point m_last_refill;
  std::chrono::steady_clock::time_point m_started;
  std::int64_t m_window = -1;  // index of the current fixed window
  double m_window_reset = 0;   // seconds until it ends, when admit() last looked
};

}  // namespace medcode::testing
