// Requests-per-minute and tokens-per-minute token buckets for one model, seeded from configuration and
// corrected from the provider's rate-limit headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "medcode/llm/wire_format.h"

namespace medcode::llm {

using Clock = std::chrono::steady_clock;

class RateLimiter {
 public:
  // 0 for either limit: no limit of that kind. Buckets start full with a burst of at most one second's
  // worth (at least one request), so a fresh run does not send a minute's requests at once.
  RateLimiter(int requests_per_minute, int tokens_per_minute, Clock::time_point now = Clock::now());

  // How long until a request of `tokens` may go (zero when it may go now). A request larger than the
  // token bucket may go when the bucket is full.
  Clock::duration wait_time(std::int64_t tokens, Clock::time_point now = Clock::now());
  // Takes one request and `tokens` from the buckets (may drive them negative; later waits pay it back).
  void acquire(std::int64_t tokens, Clock::time_point now = Clock::now());
  // Corrects the token estimate of an acquired request once the real usage is known.
  void settle(std::int64_t estimated_tokens, std::int64_t actual_tokens);

  // Headers from a response: remaining counts lower the buckets (never raise them above what the limits
  // allow), limits replace the configured ones when they differ, and a Retry-After pauses everything.
  void update(const RateLimitInfo& info, Clock::time_point now = Clock::now());
  // A 429 without usable headers: pause for `pause` (at least), and empty the request bucket.
  void penalize(Clock::duration pause, Clock::time_point now = Clock::now());

  int requests_per_minute() const { return m_requests_per_minute; }
  int tokens_per_minute() const { return m_tokens_per_minute; }

 private:
  void refill(Clock::time_point now);

  int m_requests_per_minute;
  int m_tokens_per_minute;
  double m_request_tokens;  // available requests
  double m_token_tokens;    // available tokens
  Clock::time_point m_last_refill;
  Clock::time_point m_paused_until;
};

}  // namespace medcode::llm
