// Many HTTP requests in flight on one thread through libcurl's multi interface, and a local command run the
// same way, so the engine drives network providers and command-line providers with one event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace medcode::llm {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  Headers headers;  // as sent; may carry secrets: never log them
  std::string body;
  std::chrono::milliseconds timeout{120000};  // the whole exchange
};

struct HttpResponse {
  int status = 0;   // 0 when no HTTP status arrived (transport error or timeout)
  Headers headers;  // names in lower case
  std::string body;
  bool timed_out = false;
  bool not_sent = false;        // no connection was made, so the provider never saw the request
  std::string transport_error;  // curl's message (or the command's failure), empty on success
  double seconds = 0;           // from submit to completion

  // The first header named `lower_case_name`, or "" when absent.
  std::string header(std::string_view lower_case_name) const;
};

using RequestId = std::uint64_t;

struct Completion {
  RequestId id = 0;
  HttpResponse response;
};

// A transport: submit requests, then poll for completions. Not thread-safe; one thread drives it.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual RequestId submit(HttpRequest request) = 0;
  // Waits at most `max_wait` for progress (less when something completes), returns what completed.
  virtual std::vector<Completion> poll(std::chrono::milliseconds max_wait) = 0;
  virtual std::size_t in_flight() const = 0;
};

// libcurl multi: HTTP/1.1 keep-alive connection reuse, HTTP/2 multiplexing where the server offers it,
// per-request timeouts, gzip accepted.
std::unique_ptr<Transport> make_curl_transport();

// Runs `command` (argv, no shell) once per request: the request body on its stdin, its stdout as the response
// body. Exit status 0 gives HTTP status 200; any other exit gives 500 with stderr's tail as transport_error;
// a command that cannot be started gives status 0. The timeout kills the process (timed_out = true).
std::unique_ptr<Transport> make_exec_transport(std::vector<std::string> command);

}  // namespace medcode::llm
