// Adaptive batch size and AIMD concurrency per model, with every change kept for batch_size_history.
#include "medcode/llm/batcher.h"

#include <fmt/format.h>

#include <algorithm>

namespace medcode::llm {

namespace {

constexpr const char* k_fixed_reason = "fixed by --batch-size";

// One cause of a recorded reason, as it reads after "after".
std::string cause_phrase(const std::string& cause) {
  if (cause == "timeout") return "a timeout";
  if (cause == "429 rate limited") return "a 429 (rate limited)";
  if (cause == "overloaded") return "an overloaded error";
  return cause;  // "3 straight successes", "2 failures", "fast successes"
}

}  // namespace

std::string describe_batch_change(const BatchChange& change) {
  if (change.previous_batch_size == 0) return "";
  std::string what;
  if (change.batch_size != change.previous_batch_size)
    what = fmt::format("batch size {} → {}", change.previous_batch_size, change.batch_size);
  if (change.concurrency != change.previous_concurrency) {
    if (!what.empty()) what += " and ";
    what += fmt::format("concurrency {} → {}", change.previous_concurrency, change.concurrency);
  }
  if (change.reason == k_fixed_reason) return what + ", " + k_fixed_reason;
  // A reason of several causes is kept as "2 failures, 429 rate limited".
  std::string causes;
  for (std::size_t begin = 0; begin <= change.reason.size();) {
    std::size_t end = change.reason.find(", ", begin);
    if (end == std::string::npos) end = change.reason.size();
    if (!causes.empty()) causes += " and ";
    causes += cause_phrase(change.reason.substr(begin, end - begin));
    begin = end + 2;
  }
  return what + " after " + causes;
}

AdaptiveBatcher::AdaptiveBatcher(BatchPolicy policy, int initial_concurrency, int max_concurrency)
    : m_policy(policy),
      m_max_concurrency(std::max(1, max_concurrency)),
      m_batch_size(std::clamp(policy.initial, policy.min, std::max(policy.min, policy.max))),
      m_concurrency(std::clamp(initial_concurrency, 1, std::max(1, max_concurrency))) {
  m_changes.push_back({m_batch_size, m_concurrency, "start", 0, 0});
}

void AdaptiveBatcher::fix_batch_size(int size) {
  m_fixed = true;
  if (size != m_batch_size) change(std::max(1, size), m_concurrency, k_fixed_reason);
}

void AdaptiveBatcher::change(int batch_size, int concurrency, std::string reason) {
  if (batch_size == m_batch_size && concurrency == m_concurrency) return;
  m_changes.push_back({batch_size, concurrency, std::move(reason), m_batch_size, m_concurrency});
  m_batch_size = batch_size;
  m_concurrency = concurrency;
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
