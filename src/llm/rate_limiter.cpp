// Requests and tokens paced evenly at a little under the per-minute limits, with no burst: a request goes
// when the previous one's share of the minute has passed, so no window the provider may count in (a second,
// ten seconds, a minute) holds more than its share. A 429 slows the pace; answers bring it back.
#include "medcode/llm/rate_limiter.h"

#include <algorithm>

namespace medcode::llm {

namespace {

constexpr double k_full_pace = 0.95;  // of the limit: room for the network's jitter between client and server
constexpr double k_slowest_pace = 0.5;
constexpr double k_pace_after_429 = 0.85;     // multiplies the pace at each 429
constexpr double k_pace_per_answer = 0.0005;  // added back at each answer, up to the full pace

double per_second(int per_minute) { return static_cast<double>(per_minute) / 60.0; }

}  // namespace

RateLimiter::RateLimiter(int requests_per_minute, int tokens_per_minute, Clock::time_point now)
    : m_requests_per_minute(requests_per_minute),
      m_tokens_per_minute(tokens_per_minute),
      m_pace(k_full_pace),
      m_request_tokens(1.0),
      m_token_tokens(0.0),
      m_last_refill(now),
      m_paused_until(now) {}

void RateLimiter::refill(Clock::time_point now) {
  // A pause refills nothing: what was not sent while the provider asked to wait is not owed afterwards.
  Clock::time_point from = std::max(m_last_refill, m_paused_until);
  if (now <= m_last_refill) return;
  m_last_refill = now;
  if (now <= from) return;
  double seconds = std::chrono::duration<double>(now - from).count();
  if (m_requests_per_minute > 0)
    m_request_tokens = std::min(1.0, m_request_tokens + seconds * request_rate());
  if (m_tokens_per_minute > 0) m_token_tokens = std::min(0.0, m_token_tokens + seconds * token_rate());
}

double RateLimiter::request_rate() const { return per_second(m_requests_per_minute) * m_pace; }
double RateLimiter::token_rate() const { return per_second(m_tokens_per_minute) * m_pace; }

Clock::duration RateLimiter::wait_time(std::int64_t tokens, Clock::time_point now) {
  (void)tokens;  // a request of any size goes once the earlier ones' tokens are paid back
  refill(now);
  double wait_seconds = 0;
  if (now < m_paused_until) wait_seconds = std::chrono::duration<double>(m_paused_until - now).count();
  if (m_requests_per_minute > 0 && m_request_tokens < 1.0)
    wait_seconds = std::max(wait_seconds, (1.0 - m_request_tokens) / request_rate());
  if (m_tokens_per_minute > 0 && m_token_tokens < 0.0)
    wait_seconds = std::max(wait_seconds, -m_token_tokens / token_rate());
  if (wait_seconds <= 0) return Clock::duration::zero();
  // Round up so that a caller who sleeps exactly this long finds the budget there.
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait_seconds)) +
         std::chrono::microseconds(1);
}

void RateLimiter::acquire(std::int64_t tokens, Clock::time_point now) {
  refill(now);
  if (m_requests_per_minute > 0) m_request_tokens -= 1.0;
  if (m_tokens_per_minute > 0) m_token_tokens -= static_cast<double>(tokens);
}

void RateLimiter::settle(std::int64_t estimated_tokens, std::int64_t actual_tokens) {
  m_pace = std::min(k_full_pace, m_pace + k_pace_per_answer);
  if (m_tokens_per_minute <= 0) return;
  m_token_tokens = std::min(0.0, m_token_tokens + static_cast<double>(estimated_tokens - actual_tokens));
}

void RateLimiter::update(const RateLimitInfo& info, Clock::time_point now) {
  refill(now);
  if (info.limit_requests && *info.limit_requests > 0 && *info.limit_requests != m_requests_per_minute &&
      m_requests_per_minute > 0) {
    // Only ever lower a configured limit from headers: a server's per-minute figure may count a longer
    // window, and the configuration is the user's promise to stay under their plan.
    m_requests_per_minute = std::min<int>(m_requests_per_minute, static_cast<int>(*info.limit_requests));
  }
  if (info.limit_tokens && *info.limit_tokens > 0 && m_tokens_per_minute > 0) {
    m_tokens_per_minute = std::min<int>(m_tokens_per_minute, static_cast<int>(*info.limit_tokens));
  }
  auto pause_for = [&](double seconds) {
    m_paused_until =
        std::max(m_paused_until,
                 now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
  };
  // Nothing left in the provider's window: wait for its reset, whatever its length.
  if (info.remaining_requests && *info.remaining_requests <= 0 && info.reset_requests_seconds)
    pause_for(*info.reset_requests_seconds);
  if (info.remaining_tokens && *info.remaining_tokens <= 0 && info.reset_tokens_seconds)
    pause_for(*info.reset_tokens_seconds);
  if (info.retry_after_seconds) pause_for(*info.retry_after_seconds);
}

void RateLimiter::penalize(Clock::duration pause, Clock::time_point now) {
  refill(now);
  m_paused_until = std::max(m_paused_until, now + pause);
  m_pace = std::max(k_slowest_pace, m_pace * k_pace_after_429);
  if (m_requests_per_minute > 0) m_request_tokens = std::min(m_request_tokens, 0.0);
}

}  // namespace medcode::llm
