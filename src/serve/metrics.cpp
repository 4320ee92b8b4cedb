// Prometheus text exposition of the server's counters, kept under one mutex: the counts are a handful of
// map updates per request, far below the cost of the request itself.
#include "medcode/serve/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace medcode::serve {

namespace {

const std::vector<double> k_latency_bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10,   30};
const std::vector<double> k_batch_size_bounds = {1, 2, 4, 8, 16, 32, 64, 128};

// Shortest text that reads back as the same double ("0.005", "1", "2.5").
std::string number(double value) { return fmt::format("{}", value); }

void write_histogram(std::string& out, const std::string& name, const std::string& label_name,
                     const std::map<std::string, Histogram>& histograms) {
  for (const auto& [label, histogram] : histograms) {
    std::string labels = label_name + "=\"" + escape_label(label) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < histogram.bounds.size(); ++i) {
      cumulative += histogram.buckets[i];
      out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, number(histogram.bounds[i]), cumulative);
    }
    out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, histogram.count);
    out += fmt::format("{}_sum{{{}}} {}\n", name, labels, number(histogram.sum));
    out += fmt::format("{}_count{{{}}} {}\n", name, labels, histogram.count);
  }
}

void write_counter(std::string& out, const std::string& name, const std::string& label_name,
                   const std::map<std::string, std::uint64_t>& values) {
  for (const auto& [label, value] : values)
    out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label_name, escape_label(label), value);
}

void header(std::string& out, const std::string& name, const std::string& type, const std::string& help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), buckets(bounds.size(), 0) {}

void Histogram::observe(double value) {
  // Buckets are stored per bound (not cumulative) so that an observation costs one increment.
  auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
  if (it != bounds.end()) ++buckets[static_cast<std::size_t>(it - bounds.begin())];
  ++count;
  sum += value;
}

Metrics::Metrics() {
  m_started_unix =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Metrics::request(const std::string& method, const std::string& route, int status, double seconds) {
  std::lock_guard lock(m_mutex);
  ++m_requests[{method, route, std::to_string(status)}];
  if (status >= 400) ++m_errors[route];
  m_latency.try_emplace(route, k_latency_bounds).first->second.observe(seconds);
}

void Metrics::request_without_duration(const std::string& method, const std::string& route, int status) {
  std::lock_guard lock(m_mutex);
  ++m_requests[{method, route, std::to_string(status)}];
  if (status >= 400) ++m_errors[route];
}

void Metrics::batch(const std::string& coder, std::size_t texts, double seconds) {
  std::lock_guard lock(m_mutex);
  m_batch_sizes.try_emplace(coder, k_batch_size_bounds).first->second.observe(static_cast<double>(texts));
  m_batch_seconds.try_emplace(coder, k_latency_bounds).first->second.observe(seconds);
  m_texts[coder] += texts;
}

void Metrics::tokens(const std::string& coder, std::size_t prompt, std::size_t generated) {
  std::lock_guard lock(m_mutex);
  m_prompt_tokens[coder] += prompt;
  m_generated_tokens[coder] += generated;
}

void Metrics::dropped_invalid(const std::string& coder, std::size_t codes) {
  std::lock_guard lock(m_mutex);
  m_dropped[coder] += codes;
}

void Metrics::pdf_pages(std::size_t pages) {
  std::lock_guard lock(m_mutex);
  m_pdf_pages += pages;
}

void Metrics::queue_depth(const std::string& coder, std::size_t depth) {
  std::lock_guard lock(m_mutex);
  m_queue_depth[coder] = depth;
}

std::uint64_t Metrics::requests_total() const {
  std::lock_guard lock(m_mutex);
  std::uint64_t total = 0;
  for (const auto& [key, value] : m_requests) total += value;
  return total;
}

std::string Metrics::exposition() const {
  std::lock_guard lock(m_mutex);
  std::string out;
  header(out, "medcode_start_time_seconds", "gauge", "When the server started, in Unix seconds.");
  out += fmt::format("medcode_start_time_seconds {}\n", number(m_started_unix));
  header(out, "medcode_http_requests_total", "counter", "HTTP requests answered, by method, route and status.");
  for (const auto& [key, value] : m_requests)
    out += fmt::format("medcode_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}\n",
                       escape_label(key[0]), escape_label(key[1]), key[2], value);
  header(out, "medcode_http_request_errors_total", "counter", "HTTP requests answered with a status of 400 or more.");
  write_counter(out, "medcode_http_request_errors_total", "route", m_errors);
  header(out, "medcode_http_request_duration_seconds", "histogram", "Time from routing to the response, by route.");
  write_histogram(out, "medcode_http_request_duration_seconds", "route", m_latency);
  header(out, "medcode_texts_coded_total", "counter", "Texts coded, by coder.");
  write_counter(out, "medcode_texts_coded_total", "coder", m_texts);
  header(out, "medcode_batch_size", "histogram", "Texts per batch handed to a coder.");
  write_histogram(out, "medcode_batch_size", "coder", m_batch_sizes);
  header(out, "medcode_batch_duration_seconds", "histogram", "Time a coder took for one batch.");
  write_histogram(out, "medcode_batch_duration_seconds", "coder", m_batch_seconds);
  header(out, "medcode_queue_depth", "gauge", "Texts waiting for a coder.");
  write_counter(out, "medcode_queue_depth", "coder", m_queue_depth);
  header(out, "medcode_prompt_tokens_total", "counter", "Prompt tokens read by a generative coder.");
  write_counter(out, "medcode_prompt_tokens_total", "coder", m_prompt_tokens);
  header(out, "medcode_generated_tokens_total", "counter", "Tokens generated by a generative coder.");
  write_counter(out, "medcode_generated_tokens_total", "coder", m_generated_tokens);
  header(out, "medcode_invalid_codes_dropped_total", "counter",
         "Codes a coder returned that are not in the served release, dropped from answers.");
  write_counter(out, "medcode_invalid_codes_dropped_total", "coder", m_dropped);
  header(out, "medcode_pdf_pages_total", "counter", "PDF pages whose text was extracted.");
  out += fmt::format("medcode_pdf_pages_total {}\n", m_pdf_pages);
  return out;
}

std::string escape_label(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace medcode::serve
