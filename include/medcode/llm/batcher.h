// Adaptive batching per model: how many items go in one request (the familiar policy: start at 10, +1 after
// 3 straight successes, -1 after 2 failures or on a timeout, within bounds), and how many requests are in
// flight (AIMD: +1 after a window of fast successes, halved on 429, 5xx or a timeout). Every change is kept
// with its reason for batch_size_history.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "medcode/llm/model_config.h"

namespace medcode::llm {

enum class Outcome {
  success,       // a valid answer
  failure,       // an invalid answer, a malformed body or a 5xx
  timeout,       // the request timed out
  rate_limited,  // 429
  overloaded,    // 529 / overloaded
};

struct BatchChange {
  int batch_size = 0;
  int concurrency = 0;
  std::string reason;  // "start", "3 straight successes", "2 failures", "timeout", "429 rate limited", ...
  int previous_batch_size = 0;  // before the change; 0 for the "start" entry
  int previous_concurrency = 0;
};

// A change as a log line reads it: "batch size 10 → 11 after 3 straight successes", "batch size 5 → 4 and
// concurrency 4 → 2 after a timeout", "batch size 10 → 1, fixed by --batch-size"; empty for "start".
std::string describe_batch_change(const BatchChange& change);

class AdaptiveBatcher {
 public:
  AdaptiveBatcher(BatchPolicy policy, int initial_concurrency, int max_concurrency);

  int batch_size() const { return m_batch_size; }
  int concurrency() const { return m_concurrency; }
  // A fixed batch size (the command line's --batch-size): the size no longer adapts; concurrency still does.
  void fix_batch_size(int size);

  // Feeds one request's outcome and latency; may change batch size and concurrency.
  void record(Outcome outcome, std::chrono::duration<double> latency);

  // Changes since the last call (the first call includes the "start" entry).
  std::vector<BatchChange> take_changes();

 private:
  void change(int batch_size, int concurrency, std::string reason);

  BatchPolicy m_policy;
  int m_max_concurrency;
  int m_batch_size;
  int m_concurrency;
  bool m_fixed = false;
  int m_straight_successes = 0;
  int m_failures = 0;                 // since the last batch-size change or success
  int m_window_successes = 0;         // toward the next concurrency increase
  double m_best_latency_seconds = 0;  // the fastest success seen: the baseline for "latency stays low"
  std::vector<BatchChange> m_changes;
};

}  // namespace medcode::llm
