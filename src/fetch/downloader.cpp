// One URL to one file over libcurl (RAII handles), with the retry, resume and rename-into-place rules of
// downloader.h. libcurl only: no store, no manifest.
#include "medcode/fetch/downloader.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "medcode/util/error.h"
#include "medcode/util/libcurl.h"
#include "medcode/util/text.h"
#include "medcode/version.h"

namespace medcode::fetch {

namespace fs = std::filesystem;

namespace {

struct CurlDeleter {
  void operator()(CURL* handle) const { util::libcurl::easy_cleanup(handle); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FileHandle = std::unique_ptr<std::FILE, FileCloser>;

// One request, and what libcurl's callbacks learnt about it.
struct Attempt {
  CURL* curl = nullptr;
  const DownloadOptions* options = nullptr;
  std::string label;
  fs::path part_path;
  std::int64_t offset = 0;  // bytes of the part file asked for with Range; 0 after a restart
  FileHandle file;
  bool body_started = false;
  bool discard_body = false;    // an error response: its body is not the file
  bool range_mismatch = false;  // 206 for another range than asked for
  bool write_failed = false;
  bool restarted = false;  // asked for a range, got the whole file (200)
  std::int64_t received = 0;
  std::optional<std::int64_t> content_range_start;
  std::optional<long> retry_after_seconds;
};

std::optional<std::string_view> header_value(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return std::nullopt;
  if (util::to_lower(line.substr(0, name.size())) != name) return std::nullopt;
  return util::trim(line.substr(name.size() + 1));
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end == text.data()) return std::nullopt;
  return value;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& attempt = *static_cast<Attempt*>(user);
  std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect): forget the last one's headers
    attempt.content_range_start.reset();
    attempt.retry_after_seconds.reset();
  } else if (auto range = header_value(line, "content-range")) {
    if (range->rfind("bytes ", 0) == 0) attempt.content_range_start = parse_integer(range->substr(6));
  } else if (auto retry_after = header_value(line, "retry-after")) {
    if (auto seconds = parse_integer(*retry_after)) attempt.retry_after_seconds = static_cast<long>(*seconds);
  }
  return size * count;
}

// Decides, at the first byte of the final response's body, where the body goes.
bool start_body(Attempt& attempt) {
  attempt.body_started = true;
  long status = 0;
  util::libcurl::easy_getinfo(attempt.curl, CURLINFO_RESPONSE_CODE, &status);
  const char* mode = "ab";
  if (status == 206) {
    if (attempt.content_range_start != attempt.offset) {
      attempt.range_mismatch = true;
      return false;
    }
  } else if (status == 200) {
    attempt.restarted = attempt.offset > 0;
    attempt.offset = 0;
    mode = "wb";
  } else {
    attempt.discard_body = true;
    return true;
  }
  attempt.file.reset(std::fopen(attempt.part_path.c_str(), mode));
  if (!attempt.file) attempt.write_failed = true;
  return !attempt.write_failed;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& attempt = *static_cast<Attempt*>(user);
  size_t bytes = size * count;
  if (!attempt.body_started && !start_body(attempt)) return 0;
  if (attempt.discard_body) return bytes;
  if (std::fwrite(data, 1, bytes, attempt.file.get()) != bytes) {
    attempt.write_failed = true;
    return 0;
  }
  attempt.received += static_cast<std::int64_t>(bytes);
  return bytes;
}

int on_progress(void* user, curl_off_t total, curl_off_t done, curl_off_t, curl_off_t) {
  auto& attempt = *static_cast<Attempt*>(user);
  if (attempt.discard_body) return 0;
  auto base = static_cast<std::uint64_t>(attempt.offset);
  util::report(attempt.options->progress, attempt.label, base + static_cast<std::uint64_t>(done),
               total > 0 ? base + static_cast<std::uint64_t>(total) : 0);
  return 0;
}

void configure(CURL* curl, const std::string& url, Attempt& attempt, const std::string& range,
               char* error_buffer) {
  const DownloadOptions& options = *attempt.options;
  util::libcurl::easy_setopt(curl, CURLOPT_URL, url.c_str());
  util::libcurl::easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  util::libcurl::easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  util::libcurl::easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  util::libcurl::easy_setopt(curl, CURLOPT_MAXREDIRS, options.max_redirects);
  util::libcurl::easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  util::libcurl::easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  util::libcurl::easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout.count()));
  util::libcurl::easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, options.stall_bytes_per_second);
  util::libcurl::easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.stall_timeout.count()));
  util::libcurl::easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  std::string agent = options.user_agent.empty() ? std::string("medcode/") + k_version : options.user_agent;
  util::libcurl::easy_setopt(curl, CURLOPT_USERAGENT, agent.c_str());  // libcurl copies option strings
  util::libcurl::easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  util::libcurl::easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  util::libcurl::easy_setopt(curl, CURLOPT_HEADERDATA, &attempt);
  util::libcurl::easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  util::libcurl::easy_setopt(curl, CURLOPT_WRITEDATA, &attempt);
  util::libcurl::easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  util::libcurl::easy_setopt(curl, CURLOPT_XFERINFODATA, &attempt);
  util::libcurl::easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  // CURLOPT_RANGE, not RESUME_FROM: a server that ignores the range answers 200 and the file restarts,
  // where RESUME_FROM would fail the transfer.
  if (!range.empty()) util::libcurl::easy_setopt(curl, CURLOPT_RANGE, range.c_str());
}

struct Outcome {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string error;  // curl's words for a failed transfer
  std::string effective_url;
  bool range_mismatch = false;
  bool write_failed = false;
  bool resumed = false;
  std::int64_t received = 0;
  std::optional<long> retry_after_seconds;
};

Outcome perform(const std::string& url, const fs::path& part, const DownloadOptions& options,
                const std::string& label) {
  CurlHandle curl(util::libcurl::easy_init());
  if (!curl) fail(ExitCode::internal, "cannot initialise libcurl");
  Attempt attempt;
  attempt.curl = curl.get();
  attempt.options = &options;
  attempt.label = label;
  attempt.part_path = part;
  std::error_code ignored;
  attempt.offset = fs::exists(part) ? static_cast<std::int64_t>(fs::file_size(part, ignored)) : 0;
  std::string range = attempt.offset > 0 ? std::to_string(attempt.offset) + "-" : std::string();
  char error_buffer[CURL_ERROR_SIZE] = {};
  configure(curl.get(), url, attempt, range, error_buffer);
  Outcome outcome;
  outcome.code = util::libcurl::easy_perform(curl.get());
  util::libcurl::easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &outcome.status);
  char* effective = nullptr;
  util::libcurl::easy_getinfo(curl.get(), CURLINFO_EFFECTIVE_URL, &effective);
  if (effective) outcome.effective_url = effective;
  outcome.error = error_buffer[0] ? error_buffer : util::libcurl::easy_strerror(outcome.code);
  if (outcome.status == 200 && !attempt.body_started && outcome.code == CURLE_OK) {
    attempt.file.reset(std::fopen(part.c_str(), "wb"));  // an empty file: nothing was written to truncate it
    if (!attempt.file) attempt.write_failed = true;
  }
  outcome.range_mismatch = attempt.range_mismatch;
  outcome.write_failed = attempt.write_failed;
  outcome.resumed = attempt.offset > 0 && outcome.status == 206;
  outcome.received = attempt.received;
  outcome.retry_after_seconds = attempt.retry_after_seconds;
  return outcome;
}

bool is_transient_status(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool is_transient_curl_error(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_AGAIN:
      return true;
    default:
      return false;
  }
}

enum class Verdict { done, retry, retry_at_once };

// What to do after an attempt; throws for a failure that retrying cannot mend.
Verdict judge(const Outcome& outcome, const std::string& url, const fs::path& part) {
  if (outcome.write_failed) {
    fail(ExitCode::internal, "{}: cannot write the download ({})", part.string(), std::strerror(errno));
  }
  if (outcome.range_mismatch || (outcome.code == CURLE_OK && outcome.status == 416)) {
    // The partial file does not fit what the server now serves: start again from nothing.
    std::error_code ignored;
    fs::remove(part, ignored);
    return Verdict::retry_at_once;
  }
  if (outcome.code == CURLE_OK) {
    if (outcome.status == 200 || outcome.status == 206) return Verdict::done;
    if (is_transient_status(outcome.status)) return Verdict::retry;
    std::string via = outcome.effective_url.empty() || outcome.effective_url == url
                          ? std::string()
                          : " (redirected to " + outcome.effective_url + ")";
    fail(ExitCode::network, "{}{}: HTTP {}", url, via, outcome.status);
  }
  if (is_transient_curl_error(outcome.code)) return Verdict::retry;
  fail(ExitCode::network, "{}: {}", url, outcome.error);
}

std::string describe(const Outcome& outcome) {
  if (outcome.code == CURLE_OK) return fmt::format("HTTP {}", outcome.status);
  return outcome.error;
}

std::chrono::milliseconds backoff(const DownloadOptions& options, int failures) {
  auto delay = options.initial_backoff;
  for (int i = 1; i < failures && delay < options.max_backoff; ++i) delay *= 2;
  return std::min(delay, options.max_backoff);
}

// The wait before the next attempt: the server's Retry-After when it gives one, else the backoff.
std::chrono::milliseconds retry_delay(const Outcome& outcome, const DownloadOptions& options, int failures,
                                      const std::string& url) {
  if (!outcome.retry_after_seconds) return backoff(options, failures);
  std::chrono::seconds asked(std::max(0L, *outcome.retry_after_seconds));
  if (asked > options.max_retry_after) {
    fail(ExitCode::network,
         "{}: {} and the server asks to retry after {} s (more than the {} s medcode waits)", url,
         describe(outcome), asked.count(), options.max_retry_after.count());
  }
  return asked;
}

}  // namespace

fs::path partial_path(const fs::path& destination) {
  fs::path part = destination;
  part += ".part";
  return part;
}

DownloadResult download_file(const std::string& url, const fs::path& destination,
                             const DownloadOptions& options) {
  fs::create_directories(destination.parent_path());
  fs::path part = partial_path(destination);
  std::string label = "download " + destination.filename().string();
  DownloadResult result;
  int failures = 0;
  // One request per pass. Failures are capped by `retries`; the one extra attempt allows a restart from
  // nothing when a stale partial file does not fit the server's file.
  const int max_attempts = options.retries + 2;
  while (result.attempts < max_attempts) {
    ++result.attempts;
    Outcome outcome = perform(url, part, options, label);
    result.bytes_transferred += outcome.received;
    result.resumed = result.resumed || outcome.resumed;
    Verdict verdict = judge(outcome, url, part);
    if (verdict == Verdict::done) {
      fs::rename(part, destination);
      result.bytes = static_cast<std::int64_t>(fs::file_size(destination));
      result.http_status = outcome.status;
      result.effective_url = outcome.effective_url;
      return result;
    }
    if (verdict == Verdict::retry_at_once) continue;
    ++failures;
    if (failures > options.retries) {
      fail(ExitCode::network, "{}: {} (gave up after {} attempts)", url, describe(outcome), result.attempts);
    }
    auto delay = retry_delay(outcome, options, failures, url);
    spdlog::warn("{}: {}; retrying in {:.1f} s ({} of {} retries)", url, describe(outcome),
                 std::chrono::duration<double>(delay).count(), failures, options.retries);
    std::this_thread::sleep_for(delay);
  }
  fail(ExitCode::network,
       "{}: the partial download did not match the server's file (gave up after {} attempts)", url,
       result.attempts);
}

}  // namespace medcode::fetch
