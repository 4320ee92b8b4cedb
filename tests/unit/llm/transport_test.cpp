// Tests of the transports: curl multi (many requests on one thread, timeouts, broken connections) and the
// exec transport (a command per request, exit codes, timeouts).
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "medcode/llm/http_client.h"
#include "support/fake_http_server.h"

namespace medcode::llm {
namespace {

using std::chrono::milliseconds;

std::vector<Completion> wait_all(Transport& transport, std::size_t n,
                                 milliseconds limit = milliseconds(10000)) {
  std::vector<Completion> done;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (done.size() < n && std::chrono::steady_clock::now() < deadline) {
    for (auto& completion : transport.poll(milliseconds(50))) done.push_back(std::move(completion));
  }
  return done;
}

// An httplib server that answers POST /slow after a delay, with a header and the request body echoed.
class SlowServer {
 public:
  explicit SlowServer(milliseconds delay) {
    m_server.new_task_queue = [] { return new httplib::ThreadPool(32); };
    m_server.Post("/slow", [delay](const httplib::Request& request, httplib::Response& response) {
      std::this_thread::sleep_for(delay);
      response.set_header("X-Trace-Id", "abc");
      response.set_content(request.get_header_value("X-Test") + ":" + request.body, "text/plain");
    });
    // Debian's httplib listens with a backlog of 5: raise it so 20 simultaneous connects are not retried.
    auto listening = std::make_shared<int>(-1);
    m_server.set_socket_options([listening](socket_t sock) {
      httplib::default_socket_options(sock);
      *listening = sock;
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    if (*listening >= 0) ::listen(*listening, 128);
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~SlowServer() {
    m_server.stop();
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/slow"; }

 private:
  httplib::Server m_server;
  std::thread m_thread;
  int m_port = 0;
};

HttpRequest post(const std::string& url, std::string body, milliseconds timeout = milliseconds(5000)) {
  HttpRequest request;
  request.url = url;
  request.body = std::move(body);
  request.headers = {{"X-Test", "yes"}};
  request.timeout = timeout;
  return request;
}

TEST(CurlTransport, SendsBodyAndHeadersAndLowerCasesResponseHeaders) {
  SlowServer server(milliseconds(0));
  auto transport = make_curl_transport();
  RequestId id = transport->submit(post(server.url(), "hello"));
  auto done = wait_all(*transport, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, id);
  EXPECT_EQ(done[0].response.status, 200);
  EXPECT_EQ(done[0].response.body, "yes:hello");
  EXPECT_EQ(done[0].response.header("x-trace-id"), "abc");
  EXPECT_EQ(transport->in_flight(), 0u);
}

TEST(CurlTransport, RunsManyRequestsConcurrentlyOnOneThread) {
  SlowServer server(milliseconds(200));
  auto transport = make_curl_transport();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) transport->submit(post(server.url(), std::to_string(i)));
  EXPECT_EQ(transport->in_flight(), 20u);
  auto done = wait_all(*transport, 20);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(done.size(), 20u);
  for (const auto& completion : done) EXPECT_EQ(completion.response.status, 200);
  EXPECT_LT(seconds, 2.0);  // sequentially it would take 4 s
}

TEST(CurlTransport, TimeoutAndRefusedConnectionAreTransportFailures) {
  SlowServer server(milliseconds(1000));
  auto transport = make_curl_transport();
  transport->submit(post(server.url(), "x", milliseconds(200)));
  transport->submit(post("http://127.0.0.1:1/nothing", "x"));
  auto done = wait_all(*transport, 2);
  ASSERT_EQ(done.size(), 2u);
  int timed_out = 0;
  for (const auto& completion : done) {
    EXPECT_EQ(completion.response.status, 0);
    EXPECT_FALSE(completion.response.transport_error.empty());
    timed_out += completion.response.timed_out;
  }
  EXPECT_EQ(timed_out, 1);
}

TEST(CurlTransport, TruncatedBodyIsATransportFailure) {
  testing::FakeHttpServer server;
  testing::FakeResponse cut{200, std::string(10000, 'x')};
  cut.cut_after = 100;
  server.script("/cut", {cut});
  auto transport = make_curl_transport();
  HttpRequest request = post(server.url("/cut"), "");
  request.method = "GET";
  transport->submit(request);
  auto done = wait_all(*transport, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].response.status, 0);
  EXPECT_FALSE(done[0].response.transport_error.empty());
}

TEST(CurlTransport, PollWithNothingInFlightReturnsNothing) {
  auto transport = make_curl_transport();
  EXPECT_TRUE(transport->poll(milliseconds(0)).empty());
}

TEST(ExecTransport, FeedsStdinAndReturnsStdout) {
  auto transport = make_exec_transport({"cat"});
  transport->submit(post("", "the prompt"));
  auto done = wait_all(*transport, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].response.status, 200);
  EXPECT_EQ(done[0].response.body, "the prompt");
}

TEST(ExecTransport, NonZeroExitIsAFailureWithTheTailOfStderr) {
  auto transport = make_exec_transport({"sh", "-c", "echo quota exceeded >&2; exit 3"});
  transport->submit(post("", "x"));
  auto done = wait_all(*transport, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].response.status, 500);
  EXPECT_NE(done[0].response.transport_error.find("status 3"), std::string::npos);
  EXPECT_NE(done[0].response.transport_error.find("quota exceeded"), std::string::npos);
}

TEST(ExecTransport, MissingCommandAndTimeoutAreTransportFailures) {
  auto missing = make_exec_transport({"medcode-no-such-command"});
  missing->submit(post("", "secret prompt"));
  auto done = wait_all(*missing, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].response.status, 0);
  EXPECT_NE(done[0].response.transport_error.find("medcode-no-such-command"), std::string::npos);
  EXPECT_EQ(done[0].response.transport_error.find("secret prompt"), std::string::npos);

  auto slow = make_exec_transport({"sleep", "5"});
  auto start = std::chrono::steady_clock::now();
  slow->submit(post("", "", milliseconds(200)));
  auto killed = wait_all(*slow, 1);
  ASSERT_EQ(killed.size(), 1u);
  EXPECT_TRUE(killed[0].response.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(ExecTransport, RunsCommandsConcurrentlyAndSurvivesOneThatIgnoresItsInput) {
  auto transport = make_exec_transport({"sh", "-c", "sleep 0.3; cat"});
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) transport->submit(post("", std::to_string(i)));
  auto done = wait_all(*transport, 10);
  EXPECT_EQ(done.size(), 10u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));

  auto deaf = make_exec_transport({"true"});
  deaf->submit(post("", std::string(1 << 20, 'x')));  // the pipe breaks: no SIGPIPE may end the process
  auto answered = wait_all(*deaf, 1);
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].response.status, 200);
}

}  // namespace
}  // namespace medcode::llm
