// What every wire format shares: the factory, rate-limit headers, failure classes, text rendering, estimates.
#include "medcode/llm/wire_format.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>

#include "medcode/util/text.h"
#include "wire_common.h"

namespace medcode::llm {

std::unique_ptr<WireFormat> make_openai_wire_format();
std::unique_ptr<WireFormat> make_anthropic_wire_format();
std::unique_ptr<WireFormat> make_gemini_wire_format();
std::unique_ptr<WireFormat> make_exec_wire_format();

std::unique_ptr<WireFormat> make_wire_format(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::openai:
      return make_openai_wire_format();
    case ProviderKind::anthropic:
      return make_anthropic_wire_format();
    case ProviderKind::gemini:
      return make_gemini_wire_format();
    case ProviderKind::exec:
      return make_exec_wire_format();
  }
  return make_openai_wire_format();
}

namespace {

std::optional<std::int64_t> header_int(const HttpResponse& response, std::string_view name) {
  std::string value = response.header(name);
  if (value.empty()) return std::nullopt;
  try {
    return std::stoll(value);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// OpenAI's reset durations: "1s", "6m0s", "20ms", "1h2m3.5s", or a bare number of seconds.
std::optional<double> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  double total = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (start == i) return std::nullopt;
    double number = std::stod(text.substr(start, i - start));
    std::string unit;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) unit += text[i++];
    if (unit.empty() || unit == "s") {
      total += number;
    } else if (unit == "ms") {
      total += number / 1000;
    } else if (unit == "m") {
      total += number * 60;
    } else if (unit == "h") {
      total += number * 3600;
    } else {
      return std::nullopt;
    }
    any = true;
  }
  return any ? std::optional<double>(total) : std::nullopt;
}

// Seconds from now until an RFC 3339 UTC time ("2026-11-24T12:00:30Z", fractions allowed).
std::optional<double> seconds_until_rfc3339(const std::string& text) {
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0;
  double second = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%lf", &year, &month, &day, &hour, &minute, &second) != 6) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = 0;
  double at = static_cast<double>(timegm(&tm)) + second;
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return std::max(0.0, at - now);
}

// Retry-After as delta-seconds or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT").
std::optional<double> parse_retry_after(const std::string& text) {
  if (text.empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    double seconds = std::stod(text, &used);
    if (used == text.size()) return std::max(0.0, seconds);
  } catch (const std::exception&) {
  }
  std::tm tm{};
  if (strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &tm) == nullptr) return std::nullopt;
  double at = static_cast<double>(timegm(&tm));
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return std::max(0.0, at - now);
}

}  // namespace

RateLimitInfo parse_rate_limit_headers(const HttpResponse& response) {
  RateLimitInfo info;
  info.limit_requests = header_int(response, "x-ratelimit-limit-requests");
  info.remaining_requests = header_int(response, "x-ratelimit-remaining-requests");
  info.reset_requests_seconds = parse_duration(response.header("x-ratelimit-reset-requests"));
  info.limit_tokens = header_int(response, "x-ratelimit-limit-tokens");
  info.remaining_tokens = header_int(response, "x-ratelimit-remaining-tokens");
  info.reset_tokens_seconds = parse_duration(response.header("x-ratelimit-reset-tokens"));
  if (!info.limit_requests) info.limit_requests = header_int(response, "anthropic-ratelimit-requests-limit");
  if (!info.remaining_requests) {
    info.remaining_requests = header_int(response, "anthropic-ratelimit-requests-remaining");
  }
  if (!info.reset_requests_seconds) {
    info.reset_requests_seconds =
        seconds_until_rfc3339(response.header("anthropic-ratelimit-requests-reset"));
  }
  for (const char* family : {"anthropic-ratelimit-tokens", "anthropic-ratelimit-input-tokens"}) {
    std::string prefix(family);
    if (!info.limit_tokens) info.limit_tokens = header_int(response, prefix + "-limit");
    if (!info.remaining_tokens) info.remaining_tokens = header_int(response, prefix + "-remaining");
    if (!info.reset_tokens_seconds)
      info.reset_tokens_seconds = seconds_until_rfc3339(response.header(prefix + "-reset"));
  }
  if (auto milliseconds = header_int(response, "retry-after-ms")) {
    info.retry_after_seconds = static_cast<double>(*milliseconds) / 1000.0;
  } else {
    info.retry_after_seconds = parse_retry_after(response.header("retry-after"));
  }
  return info;
}

FailureKind classify_failure(const HttpResponse& response) {
  int status = response.status;
  if (status == 0 || response.timed_out || status == 408 || status == 409) return FailureKind::retryable;
  if (status == 429) return FailureKind::rate_limited;
  if (status == 529) return FailureKind::overloaded;
  if (status == 503 && (response.body.find("overloaded") != std::string::npos ||
                        response.body.find("UNAVAILABLE") != std::string::npos)) {
    return FailureKind::overloaded;
  }
  if (status >= 500) return FailureKind::retryable;
  return FailureKind::fatal;
}

std::string render_as_text(const ChatRequest& request) {
  std::string text;
  std::string system = system_with_schema(request);
  if (!system.empty()) text += "[system]\n" + system + "\n\n";
  for (const auto& message : request.messages) text += "[" + message.role + "]\n" + message.content + "\n\n";
  return text;
}

std::string system_with_schema(const ChatRequest& request) {
  if (!request.schema) return request.system;
  std::string schema = request.schema->dump();
  if (request.system.find(schema) != std::string::npos) return request.system;
  std::string system = request.system;
  if (!system.empty()) system += "\n\n";
  return system + "Answer with JSON only, matching this JSON schema:\n" + schema;
}

std::string JsonWireFormat::error_message(const HttpResponse& response) const {
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_discarded() && body.is_object() && body.contains("error")) {
    const auto& error = body["error"];
    if (error.is_string()) return error.get<std::string>();
    if (error.is_object() && error.contains("message") && error["message"].is_string()) {
      std::string message = error["message"].get<std::string>();
      std::string label;
      if (!m_error_label.empty() && error.contains(m_error_label) && error[m_error_label].is_string()) {
        label = error[m_error_label].get<std::string>();
      }
      return label.empty() ? message : label + ": " + message;
    }
  }
  return response.body.empty() ? "no message" : response.body.substr(0, 300);
}

int output_limit(const ModelConfig& model, const ChatRequest& request) {
  return request.max_output_tokens.value_or(model.max_output_tokens);
}

nlohmann::json JsonWireFormat::cache_params(const ModelConfig& model, const ChatRequest& request) const {
  return {{"provider", m_provider},
          {"model_id", model.model_id},
          {"temperature", model.temperature},
          {"max_output_tokens", output_limit(model, request)},
          {"json_mode", json_mode_label(model.json_mode)}};
}

nlohmann::json JsonWireFormat::parse_object(const HttpResponse& response) {
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) throw MalformedResponse("the body is not a JSON object");
  return body;
}

void JsonWireFormat::add_extra_headers(HttpRequest& request, const ModelConfig& model) {
  for (auto& [name, value] : resolved_headers(model)) request.headers.emplace_back(name, std::move(value));
}

std::int64_t estimate_tokens(std::string_view text) {
  if (text.empty()) return 0;
  return static_cast<std::int64_t>((text.size() + 3) / 4);
}

}  // namespace medcode::llm
