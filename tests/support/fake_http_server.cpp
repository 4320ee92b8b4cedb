// The scripted test server, on cpp-httplib; Range requests are answered here, not by httplib, so that a
// script can also ignore them.
#include "support/fake_http_server.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

namespace medcode::testing {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// The N of "bytes=N-", the only form of Range the downloader sends.
std::optional<std::size_t> range_start(const httplib::Request& request) {
  std::string range = request.get_header_value("Range");
  if (range.rfind("bytes=", 0) != 0 || range.back() != '-') return std::nullopt;
  return static_cast<std::size_t>(std::stoull(range.substr(6, range.size() - 7)));
}

// Applies a Range request to a 200 response: 206 with the rest of the body, or 416 past its end.
void apply_range(const httplib::Request& request, FakeResponse& response) {
  std::optional<std::size_t> start = range_start(request);
  if (!start || response.status != 200 || !response.honour_range) return;
  std::size_t size = response.body.size();
  if (*start >= size) {
    response = FakeResponse{416, "", {{"Content-Range", "bytes */" + std::to_string(size)}}};
    return;
  }
  response.status = 206;
  response.headers.emplace_back("Content-Range", "bytes " + std::to_string(*start) + "-" +
                                                     std::to_string(size - 1) + "/" + std::to_string(size));
  response.body = response.body.substr(*start);
  if (response.cut_after)
    response.cut_after = *response.cut_after > *start ? *response.cut_after - *start : 0;
}

void write(const FakeResponse& scripted, httplib::Response& response) {
  response.status = scripted.status;
  for (const auto& [name, value] : scripted.headers) response.set_header(name, value);
  if (!scripted.cut_after) {
    response.set_content(scripted.body, "application/octet-stream");
    return;
  }
  // Announce the whole body, send part of it, then fail the provider: httplib closes the connection.
  std::string body = scripted.body;
  std::size_t cut = std::min(*scripted.cut_after, body.size());
  response.set_content_provider(body.size(), "application/octet-stream",
                                [body, cut](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                  if (offset < cut) sink.write(body.data() + offset, cut - offset);
                                  return false;
                                });
}

}  // namespace

std::string FakeRequest::header(const std::string& lower_case_name) const {
  auto found = headers.find(lower_case_name);
  return found == headers.end() ? std::string() : found->second;
}

FakeHttpServer::FakeHttpServer() : m_server(std::make_unique<httplib::Server>()) {
  m_server->Get(".*", [this](const httplib::Request& request, httplib::Response& response) {
    handle(request, response);
  });
  m_port = m_server->bind_to_any_port("127.0.0.1");
  if (m_port <= 0) throw std::runtime_error("fake HTTP server: cannot bind 127.0.0.1");
  // The socket already listens; connections made before the thread runs wait in its backlog.
  m_thread = std::thread([this] { m_server->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so a server destroyed at once would never stop.
  for (int i = 0; i < 5000 && !m_server->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeHttpServer::~FakeHttpServer() {
  m_server->stop();
  if (m_thread.joinable()) m_thread.join();
}

std::string FakeHttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(m_port) + path;
}

void FakeHttpServer::script(const std::string& path, std::vector<FakeResponse> responses) {
  std::lock_guard lock(m_mutex);
  m_scripts[path] = std::move(responses);
  m_answered[path] = 0;
}

void FakeHttpServer::serve(const std::string& path, std::string body) {
  script(path, {FakeResponse{200, std::move(body)}});
}

std::vector<FakeRequest> FakeHttpServer::requests() const {
  std::lock_guard lock(m_mutex);
  return m_requests;
}

std::size_t FakeHttpServer::request_count(const std::string& path) const {
  std::lock_guard lock(m_mutex);
  return static_cast<std::size_t>(
      std::count_if(m_requests.begin(), m_requests.end(),
                    [&](const FakeRequest& request) { return request.path == path; }));
}

void FakeHttpServer::handle(const httplib::Request& request, httplib::Response& response) {
  // httplib would otherwise cut the body to the requested range itself, even for a 200.
  const_cast<httplib::Request&>(request).ranges.clear();
  FakeResponse scripted{404, "not found"};
  {
    std::lock_guard lock(m_mutex);
    FakeRequest logged{request.method, request.path, {}};
    for (const auto& [name, value] : request.headers) logged.headers[lower(name)] = value;
    m_requests.push_back(std::move(logged));
    auto found = m_scripts.find(request.path);
    if (found != m_scripts.end() && !found->second.empty()) {
      std::size_t index = std::min(m_answered[request.path]++, found->second.size() - 1);
      scripted = found->second[index];
    }
  }
  apply_range(request, scripted);
  write(scripted, response);
}

}  // namespace medcode::testing
