// Items per second of each LLM model from its ledger attempts: fixed 60-s windows of the time it had requests
// in flight, and the batch size that delivered the most items per second of latency.
#include <algorithm>
#include <cmath>
#include <map>

#include "report_data.h"

namespace medcode::report {

namespace {

// A stretch of time, [start, end) in seconds since the epoch.
struct Span {
  double start = 0;
  double end = 0;
};

// The ledger's times name whole seconds: an attempt that started and finished within one second was still in
// flight for part of it, so it spans through the second it finished.
Span in_flight(const AttemptSpan& attempt) {
  return {attempt.started, std::max(attempt.finished, attempt.started) + 1};
}

// Overlapping attempts (concurrent requests) are one busy stretch: the model's clock runs once for them.
std::vector<Span> merged(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
  std::vector<Span> out;
  for (const Span& span : spans) {
    if (!out.empty() && span.start <= out.back().end)
      out.back().end = std::max(out.back().end, span.end);
    else
      out.push_back(span);
  }
  return out;
}

// Calls add(window start, seconds of `span` inside that window) for each window the span touches.
template <typename Add>
void split_into_windows(const Span& span, Add add) {
  for (double window = std::floor(span.start / k_window_seconds) * k_window_seconds; window < span.end;
       window += k_window_seconds) {
    double overlap = std::min(span.end, window + k_window_seconds) - std::max(span.start, window);
    if (overlap > 0) add(window, overlap);
  }
}

struct Window {
  double busy_seconds = 0;
  double items = 0;
};

void window_rates(const std::vector<const AttemptSpan*>& attempts, ModelThroughput& out) {
  std::map<double, Window> windows;
  std::vector<Span> spans;
  for (const AttemptSpan* attempt : attempts) {
    Span span = in_flight(*attempt);
    spans.push_back(span);
    if (!attempt->answered || attempt->n_items <= 0) continue;
    out.items += attempt->n_items;
    // Spread over the attempt's seconds: the items were being worked on all along, not only at the end.
    double per_second = static_cast<double>(attempt->n_items) / (span.end - span.start);
    split_into_windows(span,
                       [&](double window, double seconds) { windows[window].items += per_second * seconds; });
  }
  for (const Span& span : merged(std::move(spans))) {
    out.busy_seconds += span.end - span.start;
    split_into_windows(span, [&](double window, double seconds) { windows[window].busy_seconds += seconds; });
  }
  for (const auto& [start, window] : windows) {
    double rate = window.items / window.busy_seconds;
    out.windows.push_back({start, rate});
    out.peak_items_per_second = std::max(out.peak_items_per_second.value_or(rate), rate);
    out.minimum_items_per_second = std::min(out.minimum_items_per_second.value_or(rate), rate);
  }
  if (out.busy_seconds > 0) out.average_items_per_second = static_cast<double>(out.items) / out.busy_seconds;
}

// Items per second of each attempt's own latency (its span where it has none), by the batch size it carried.
void batch_size_rates(const std::vector<const AttemptSpan*>& attempts, ModelThroughput& out) {
  struct Sums {
    std::int64_t attempts = 0;
    double items = 0;
    double seconds = 0;
  };
  std::map<std::int64_t, Sums> by_size;
  for (const AttemptSpan* attempt : attempts) {
    if (attempt->n_items <= 0) continue;
    Sums& sums = by_size[attempt->n_items];
    ++sums.attempts;
    if (attempt->answered) sums.items += static_cast<double>(attempt->n_items);
    Span span = in_flight(*attempt);
    sums.seconds += attempt->latency_ms ? *attempt->latency_ms / 1000 : span.end - span.start;
  }
  for (const auto& [size, sums] : by_size) {
    BatchSizeRate rate{size, sums.attempts, sums.seconds > 0 ? sums.items / sums.seconds : 0};
    out.batch_sizes.push_back(rate);
    // Sizes come in increasing order, so a strict comparison leaves a tie with the smaller size.
    if (rate.attempts >= k_min_attempts_for_best_batch &&
        (!out.best_batch || rate.items_per_second > out.best_batch->items_per_second))
      out.best_batch = rate;
  }
}

}  // namespace

std::vector<ModelThroughput> model_throughput(const std::vector<AttemptSpan>& attempts) {
  std::map<std::string, std::vector<const AttemptSpan*>> by_model;
  for (const AttemptSpan& attempt : attempts) by_model[attempt.model].push_back(&attempt);
  std::vector<ModelThroughput> out;
  for (const auto& [model, model_attempts] : by_model) {
    ModelThroughput throughput;
    throughput.model = model;
    window_rates(model_attempts, throughput);
    batch_size_rates(model_attempts, throughput);
    out.push_back(std::move(throughput));
  }
  return out;
}

}  // namespace medcode::report
