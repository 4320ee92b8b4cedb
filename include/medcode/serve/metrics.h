// What `medcode serve` counts, written in Prometheus' text exposition format (version 0.0.4) for /metrics:
// requests by route and status, their latency as a histogram, texts coded, tokens, batches and PDF pages.
// Every method is safe to call from many threads at once.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace medcode::serve {

// A cumulative histogram over fixed upper bounds (the +Inf bucket is `count`).
struct Histogram {
  std::vector<double> bounds;
  std::vector<std::uint64_t> buckets;  // per bound: observations <= it (cumulative when written)
  std::uint64_t count = 0;
  double sum = 0;

  explicit Histogram(std::vector<double> upper_bounds = {});
  void observe(double value);
};

class Metrics {
 public:
  Metrics();

  // One answered HTTP request: its route pattern (never the raw path, which would let clients mint series),
  // method, status and, when it reached a handler, its duration.
  void request(const std::string& method, const std::string& route, int status, double seconds);
  void request_without_duration(const std::string& method, const std::string& route, int status);
  // One batch handed to a coder, and the texts and tokens in it.
  void batch(const std::string& coder, std::size_t texts, double seconds);
  void tokens(const std::string& coder, std::size_t prompt, std::size_t generated);
  void dropped_invalid(const std::string& coder, std::size_t codes);
  void pdf_pages(std::size_t pages);
  void queue_depth(const std::string& coder, std::size_t depth);

  // The whole exposition, ending in a newline.
  std::string exposition() const;
  std::uint64_t requests_total() const;

 private:
  mutable std::mutex m_mutex;
  double m_started_unix = 0;
  std::map<std::array<std::string, 3>, std::uint64_t> m_requests;  // method, route, status
  std::map<std::string, std::uint64_t> m_errors;                   // route: status >= 400
  std::map<std::string, Histogram> m_latency;                      // route
  std::map<std::string, Histogram> m_batch_sizes;                  // coder
  std::map<std::string, Histogram> m_batch_seconds;                // coder
  std::map<std::string, std::uint64_t> m_texts;                    // coder
  std::map<std::string, std::uint64_t> m_prompt_tokens;            // coder
  std::map<std::string, std::uint64_t> m_generated_tokens;         // coder
  std::map<std::string, std::uint64_t> m_dropped;                  // coder
  std::map<std::string, std::uint64_t> m_queue_depth;              // coder
  std::uint64_t m_pdf_pages = 0;
};

// A label value escaped as the exposition format requires (backslash, double quote, newline).
std::string escape_label(const std::string& value);

}  // namespace medcode::serve
