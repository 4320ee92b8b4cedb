// A scripted HTTP server on 127.0.0.1 for tests of downloads: canned responses per path, a log of the
// requests it saw, and faults on demand (error statuses, redirects, a connection cut mid-body).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace medcode::testing {

struct FakeResponse {
  FakeResponse() = default;
  FakeResponse(int status_code, std::string content,
               std::vector<std::pair<std::string, std::string>> extra = {})
      : status(status_code), body(std::move(content)), headers(std::move(extra)) {}

  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Location", url}, {"Retry-After", "0"}
  std::optional<std::size_t> cut_after;  // fault: close the connection after this many bytes of the body
  bool honour_range = true;              // answer "Range: bytes=N-" with 206 and the rest of the body
};

struct FakeRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string header(const std::string& lower_case_name) const;
};

class FakeHttpServer {
 public:
  // Listens on 127.0.0.1 at a port the system picks; serves until destroyed.
  FakeHttpServer();
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  int port() const { return m_port; }
  std::string url(const std::string& path) const;  // "http://127.0.0.1:<port><path>"

  // The responses for `path`, one per request in order; the last answers every later request.
  // A path with no script answers 404.
  void script(const std::string& path, std::vector<FakeResponse> responses);
  void serve(const std::string& path, std::string body);  // 200 with `body`, every time

  std::vector<FakeRequest> requests() const;
  std::size_t request_count(const std::string& path) const;

 private:
  void handle(const httplib::Request& request, httplib::Response& response);

  std::unique_ptr<httplib::Server> m_server;
  std::thread m_thread;
  int m_port = 0;
  mutable std::mutex m_mutex;
  std::map<std::string, std::vector<FakeResponse>> m_scripts;
  std::map<std::string, std::size_t> m_answered;
  std::vector<FakeRequest> m_requests;
};

}  // namespace medcode::testing
