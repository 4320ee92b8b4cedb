// Downloading one URL to a local file with libcurl: redirects, timeouts, retries with backoff, resume of a
// partial download from "<destination>.part" with an HTTP Range request, atomic rename into place.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "medcode/util/progress.h"

namespace medcode::fetch {

struct DownloadOptions {
  int retries = 4;                                  // further attempts after a transient failure
  std::chrono::milliseconds initial_backoff{1000};  // doubled after each failed attempt
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::seconds max_retry_after{120};  // a longer Retry-After ends the download
  std::chrono::seconds connect_timeout{60};
  std::chrono::seconds stall_timeout{60};  // abort when slower than stall_bytes_per_second
  long stall_bytes_per_second = 1024;      //   for stall_timeout
  long max_redirects = 10;
  std::string user_agent;           // empty: "medcode/<version>"
  util::ProgressCallback progress;  // stage "download <file>", bytes done/total
};

struct DownloadResult {
  std::int64_t bytes = 0;              // size of the file now in place
  std::int64_t bytes_transferred = 0;  // bytes received over the network, all attempts
  int attempts = 0;
  bool resumed = false;       // some attempt continued a partial file with a Range request
  long http_status = 0;       // of the final response (200 or 206)
  std::string effective_url;  // after redirects
};

// Downloads `url` to `destination`. Transient failures (connection errors, timeouts, HTTP 408, 429 and 5xx)
// are retried with exponential backoff, honouring a Retry-After of at most max_retry_after; other HTTP
// errors (404, 403, ...) are not. Failure is Error(network) naming the URL and the HTTP status or curl error;
// the partial file stays as "<destination>.part" for the next attempt to resume.
DownloadResult download_file(const std::string& url, const std::filesystem::path& destination,
                             const DownloadOptions& options);

// "<destination>.part", where a download in progress accumulates.
std::filesystem::path partial_path(const std::filesystem::path& destination);

}  // namespace medcode::fetch
