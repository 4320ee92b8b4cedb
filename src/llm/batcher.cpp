// Adaptive batch size and AIMD concurrency per model, with every change kept for batch_size_history.
#include "medcode/llm/batcher.h"

#include <algorithm>

namespace medcode::llm {

AdaptiveBatcher::AdaptiveBatcher(BatchPolicy policy, int initial_concurrency, int max_concurrency)
    : m_policy(policy),
      m_max_concurrency(std::max(1, max_concurrency)),
      m_batch_size(std::clamp(policy.initial, policy.min, std::max(policy.min, policy.max))),
      m_concurrency(std::clamp(initial_concurrency, 1, std::max(1, max_concurrency))) {
  m_changes.push_back({m_batch_size, m_concurrency, "start"});
}

void AdaptiveBatcher::fix_batch_size(int size) {
  m_fixed = true;
  if (size != m_batch_size) change(std::max(1, size), m_concurrency, "fixed by --batch-size");
}

void AdaptiveBatcher::change(int batch_size, int concurrency, std::string reason) {
  if (batch_size == m_batch_size && concurrency == m_concurrency) return;
  m_batch_size = batch_size;
  m_concurrency = concurrency;
  m_changes.push_back({batch_size, concurrency, std::move(reason)});
}

void AdaptiveBatcher::record(Outcome outcome, std::chrono::duration<double> latency) {
  const double seconds = latency.count();
  if (outcome == Outcome::success) {
    m_failures = 0;
    if (!m_fixed && ++m_straight_successes >= 3) {
      m_straight_successes = 0;
      change(std::min(m_policy.max, m_batch_size + 1), m_concurrency, "3 straight successes");
    }
    if (m_best_latency_seconds <= 0 || seconds < m_best_latency_seconds) m_best_latency_seconds = seconds;
    // Latency within twice the best seen means the provider is not yet queueing our requests.
    if (seconds <= 2 * m_best_latency_seconds) {
      if (++m_window_successes >= m_concurrency) {
        m_window_successes = 0;
        change(m_batch_size, std::min(m_max_concurrency, m_concurrency + 1), "fast successes");
      }
    } else {
      m_window_successes = 0;
    }
    return;
  }
  m_straight_successes = 0;
  m_window_successes = 0;
  int batch_size = m_batch_size;
  std::string reason;
  if (outcome == Outcome::timeout) {
    if (!m_fixed) batch_size = std::max(m_policy.min, m_batch_size - 1);
    m_failures = 0;
    reason = "timeout";
  } else if (++m_failures >= 2) {
    if (!m_fixed) batch_size = std::max(m_policy.min, m_batch_size - 1);
    m_failures = 0;
    reason = "2 failures";
  }
  int concurrency = m_concurrency;
  if (outcome == Outcome::timeout || outcome == Outcome::rate_limited || outcome == Outcome::overloaded) {
    concurrency = std::max(1, m_concurrency / 2);
    if (outcome == Outcome::rate_limited)
      reason = reason.empty() ? "429 rate limited" : reason + ", 429 rate limited";
    if (outcome == Outcome::overloaded) reason = reason.empty() ? "overloaded" : reason + ", overloaded";
  }
  if (!reason.empty()) change(batch_size, concurrency, reason);
}

std::vector<BatchChange> AdaptiveBatcher::take_changes() {
  std::vector<BatchChange> changes;
  changes.swap(m_changes);
  return changes;
}

}  // namespace medcode::llm
