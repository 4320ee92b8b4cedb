// Exponential backoff with full jitter (each retry waits a random time up to a doubling ceiling), so clients
// that failed together do not retry together; a server's Retry-After is a floor.
#include "medcode/llm/backoff.h"

#include <algorithm>
#include <cmath>

namespace medcode::llm {

Backoff::Backoff(BackoffPolicy policy, std::uint64_t seed) : m_policy(policy), m_random(seed) {}

std::chrono::milliseconds Backoff::delay(int attempt, std::optional<double> retry_after_seconds) {
  double ceiling_ms = static_cast<double>(m_policy.base.count()) * std::pow(2.0, std::max(0, attempt - 1));
  ceiling_ms = std::min(ceiling_ms, static_cast<double>(m_policy.cap.count()));
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  double delay_ms = ceiling_ms * jitter(m_random);
  if (retry_after_seconds && *retry_after_seconds >= 0) {
    double floor_ms = *retry_after_seconds * 1000.0;
    delay_ms = std::max(delay_ms, floor_ms * (1.0 + 0.1 * jitter(m_random)));
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(delay_ms));
}

}  // namespace medcode::llm
