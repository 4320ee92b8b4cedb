// The pace of one model's requests: requests and tokens per minute, seeded from configuration, sent evenly at
// a little under the limits so that no window a provider counts in (one second, ten, sixty) overflows, and
// corrected from the provider's rate-limit headers and 429s.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "medcode/llm/wire_format.h"

namespace medcode::llm {

using Clock = std::chrono::steady_clock;

class RateLimiter {
 public:
  // 0 for either limit: no limit of that kind. There is no burst: the first request goes at once, the next
  // when its share of the minute (at 95% of the limit) has passed.
  RateLimiter(int requests_per_minute, int tokens_per_minute, Clock::time_point now = Clock::now());

  // How long until a request may go (zero when it may go now): until the earlier requests' shares of the
  // minute, in requests and in tokens, have passed. A request of any size may go then.
  Clock::duration wait_time(std::int64_t tokens, Clock::time_point now = Clock::now());
  // Takes one request and `tokens` (later waits pay them back).
  void acquire(std::int64_t tokens, Clock::time_point now = Clock::now());
  // Corrects the token estimate of an acquired request once the real usage is known; an answer also brings
  // the pace back towards the full one after a 429 slowed it.
  void settle(std::int64_t estimated_tokens, std::int64_t actual_tokens);

  // Headers from a response: remaining counts lower the buckets (never raise them above what the limits
  // allow), limits replace the configured ones when they differ, and a Retry-After pauses everything.
  void update(const RateLimitInfo& info, Clock::time_point now = Clock::now());
  // A 429: pause for `pause` (at least), nothing owed for the pause, and a slower pace (85% of the last,
  // not below half the limit) that answers restore.
  void penalize(Clock::duration pause, Clock::time_point now = Clock::now());

  int requests_per_minute() const { return m_requests_per_minute; }
  int tokens_per_minute() const { return m_tokens_per_minute; }
  double pace() const { return m_pace; }  // share of the limits it sends at

 private:
  void refill(Clock::time_point now);
  double request_rate() const;  // per second
  double token_rate() const;

  int m_requests_per_minute;
  int m_tokens_per_minute;
  double m_pace;
  double m_request_tokens;  // requests that may go now, at most 1
  double m_token_tokens;    // tokens owed by earlier requests, as a negative number (0 when none)
  Clock::time_point m_last_refill;
  Clock::time_point m_paused_until;
};

}  // namespace medcode::llm
