// Token buckets refilled continuously at the per-minute limits. A bucket holds one second's worth, so the
// client sends at an even pace at the limit instead of a burst the server would answer with 429s.
#include "medcode/llm/rate_limiter.h"

#include <algorithm>

namespace medcode::llm {

namespace {

double per_second(int per_minute) { return static_cast<double>(per_minute) / 60.0; }
double request_capacity(int requests_per_minute) { return std::max(1.0, per_second(requests_per_minute)); }
double token_capacity(int tokens_per_minute) { return std::max(1.0, per_second(tokens_per_minute)); }

}  // namespace

RateLimiter::RateLimiter(int requests_per_minute, int tokens_per_minute, Clock::time_point now)
    : m_requests_per_minute(requests_per_minute),
      m_tokens_per_minute(tokens_per_minute),
      m_request_tokens(request_capacity(requests_per_minute)),
      m_token_tokens(token_capacity(tokens_per_minute)),
      m_last_refill(now),
      m_paused_until(now) {}

void RateLimiter::refill(Clock::time_point now) {
  if (now <= m_last_refill) return;
  double seconds = std::chrono::duration<double>(now - m_last_refill).count();
  m_last_refill = now;
  if (m_requests_per_minute > 0) {
    m_request_tokens = std::min(request_capacity(m_requests_per_minute),
                                m_request_tokens + seconds * per_second(m_requests_per_minute));
  }
  if (m_tokens_per_minute > 0) {
    m_token_tokens = std::min(token_capacity(m_tokens_per_minute),
                              m_token_tokens + seconds * per_second(m_tokens_per_minute));
  }
}

Clock::duration RateLimiter::wait_time(std::int64_t tokens, Clock::time_point now) {
  refill(now);
  double wait_seconds = 0;
  if (now < m_paused_until) wait_seconds = std::chrono::duration<double>(m_paused_until - now).count();
  if (m_requests_per_minute > 0 && m_request_tokens < 1.0) {
    wait_seconds = std::max(wait_seconds, (1.0 - m_request_tokens) / per_second(m_requests_per_minute));
  }
  if (m_tokens_per_minute > 0) {
    // A request larger than the bucket goes when the bucket is full, and drives it negative.
    double needed = std::min(static_cast<double>(tokens), token_capacity(m_tokens_per_minute));
    if (m_token_tokens < needed) {
      wait_seconds = std::max(wait_seconds, (needed - m_token_tokens) / per_second(m_tokens_per_minute));
    }
  }
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
  if (m_tokens_per_minute <= 0) return;
  m_token_tokens = std::min(token_capacity(m_tokens_per_minute),
                            m_token_tokens + static_cast<double>(estimated_tokens - actual_tokens));
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
  if (info.remaining_requests && m_requests_per_minute > 0) {
    m_request_tokens = std::min(m_request_tokens, static_cast<double>(*info.remaining_requests));
  }
  if (info.remaining_tokens && m_tokens_per_minute > 0) {
    m_token_tokens = std::min(m_token_tokens, static_cast<double>(*info.remaining_tokens));
  }
  if (info.remaining_requests && *info.remaining_requests <= 0 && info.reset_requests_seconds) {
    m_paused_until =
        std::max(m_paused_until, now + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(*info.reset_requests_seconds)));
  }
  if (info.retry_after_seconds) {
    m_paused_until =
        std::max(m_paused_until, now + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(*info.retry_after_seconds)));
  }
}

void RateLimiter::penalize(Clock::duration pause, Clock::time_point now) {
  refill(now);
  m_paused_until = std::max(m_paused_until, now + pause);
  if (m_requests_per_minute > 0) m_request_tokens = std::min(m_request_tokens, 0.0);
}

}  // namespace medcode::llm
