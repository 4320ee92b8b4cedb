// The downloader against the scripted loopback server: success, HTTP errors, retries, resume, redirects.
#include "medcode/fetch/downloader.h"

#include <gtest/gtest.h>

#include <fstream>

#include "medcode/util/error.h"
#include "support/fake_http_server.h"
#include "support/medcode_process.h"

namespace medcode::fetch {
namespace {

namespace fs = std::filesystem;
using testing::FakeHttpServer;
using testing::FakeResponse;
using testing::read_text;
using testing::TempDir;

// Small delays so that retries cost milliseconds, not seconds.
DownloadOptions fast_options(int retries = 3) {
  DownloadOptions options;
  options.retries = retries;
  options.initial_backoff = std::chrono::milliseconds(1);
  options.max_backoff = std::chrono::milliseconds(4);
  options.connect_timeout = std::chrono::seconds(5);
  options.stall_timeout = std::chrono::seconds(5);
  return options;
}

std::string sample_body(std::size_t size) {
  std::string body(size, '\0');
  for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return body;
}

Error download_error(const std::string& url, const fs::path& destination, const DownloadOptions& options) {
  try {
    download_file(url, destination, options);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no Error thrown for " << url;
  return Error(ExitCode::ok, "");
}

TEST(Downloader, SavesTheBodyAndRenamesItIntoPlace) {
  FakeHttpServer server;
  server.serve("/files/a.txt", "hello, world\n");
  TempDir dir;
  DownloadResult result = download_file(server.url("/files/a.txt"), dir / "a.txt", fast_options());
  EXPECT_EQ(read_text(dir / "a.txt"), "hello, world\n");
  EXPECT_FALSE(fs::exists(partial_path(dir / "a.txt")));
  EXPECT_EQ(result.bytes, 13);
  EXPECT_EQ(result.attempts, 1);
  EXPECT_EQ(result.http_status, 200);
  std::string agent = server.requests().at(0).header("user-agent");
  EXPECT_EQ(agent.rfind("medcode/", 0), 0u) << agent;
}

TEST(Downloader, NotFoundFailsAtOnceAsANetworkErrorNamingUrlAndStatus) {
  FakeHttpServer server;
  TempDir dir;
  Error error = download_error(server.url("/missing.zip"), dir / "missing.zip", fast_options());
  EXPECT_EQ(error.code(), ExitCode::network);
  EXPECT_NE(std::string(error.what()).find(server.url("/missing.zip") + ": HTTP 404"), std::string::npos)
      << error.what();
  EXPECT_EQ(server.request_count("/missing.zip"), 1u);
  EXPECT_FALSE(fs::exists(dir / "missing.zip"));
}

TEST(Downloader, ForbiddenIsNotRetried) {
  FakeHttpServer server;
  server.script("/secret", {FakeResponse{403, "no"}});
  TempDir dir;
  EXPECT_EQ(download_error(server.url("/secret"), dir / "secret", fast_options()).code(), ExitCode::network);
  EXPECT_EQ(server.request_count("/secret"), 1u);
}

TEST(Downloader, RetriesAServerErrorUntilTheFileComes) {
  FakeHttpServer server;
  server.script("/flaky",
                {FakeResponse{500, "oops"}, FakeResponse{503, "busy"}, FakeResponse{200, "payload"}});
  TempDir dir;
  DownloadResult result = download_file(server.url("/flaky"), dir / "flaky", fast_options());
  EXPECT_EQ(read_text(dir / "flaky"), "payload");  // error bodies never reach the file
  EXPECT_EQ(result.attempts, 3);
  EXPECT_EQ(server.request_count("/flaky"), 3u);
}

TEST(Downloader, GivesUpAfterTheConfiguredRetries) {
  FakeHttpServer server;
  server.script("/down", {FakeResponse{502, "bad gateway"}});
  TempDir dir;
  Error error = download_error(server.url("/down"), dir / "down", fast_options(2));
  EXPECT_EQ(error.code(), ExitCode::network);
  EXPECT_NE(std::string(error.what()).find("HTTP 502 (gave up after 3 attempts)"), std::string::npos)
      << error.what();
  EXPECT_EQ(server.request_count("/down"), 3u);
}

TEST(Downloader, HonoursASmallRetryAfterAndRefusesALongOne) {
  FakeHttpServer server;
  server.script("/busy", {FakeResponse{429, "", {{"Retry-After", "0"}}}, FakeResponse{200, "ok"}});
  server.script("/closed", {FakeResponse{503, "", {{"Retry-After", "86400"}}}});
  TempDir dir;
  EXPECT_EQ(download_file(server.url("/busy"), dir / "busy", fast_options()).attempts, 2);
  Error error = download_error(server.url("/closed"), dir / "closed", fast_options());
  EXPECT_EQ(error.code(), ExitCode::network);
  EXPECT_NE(std::string(error.what()).find("retry after 86400 s"), std::string::npos) << error.what();
  EXPECT_EQ(server.request_count("/closed"), 1u);
}

TEST(Downloader, ResumesATransferCutMidBodyWithARangeRequest) {
  FakeHttpServer server;
  std::string body = sample_body(200000);
  FakeResponse cut{200, body};
  cut.cut_after = 70000;
  server.script("/big.zip", {cut, FakeResponse{200, body}});
  TempDir dir;
  DownloadResult result = download_file(server.url("/big.zip"), dir / "big.zip", fast_options());
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].header("range"), "");
  EXPECT_EQ(requests[1].header("range"), "bytes=70000-");
  EXPECT_TRUE(result.resumed);
  EXPECT_EQ(result.http_status, 206);
  EXPECT_EQ(read_text(dir / "big.zip"), body);
  EXPECT_EQ(result.bytes, 200000);
}

TEST(Downloader, ResumesAPartialFileLeftByAnEarlierRun) {
  FakeHttpServer server;
  std::string body = sample_body(5000);
  server.serve("/file.txt", body);
  TempDir dir;
  std::ofstream(partial_path(dir / "file.txt"), std::ios::binary) << body.substr(0, 1234);
  DownloadResult result = download_file(server.url("/file.txt"), dir / "file.txt", fast_options());
  EXPECT_EQ(server.requests().at(0).header("range"), "bytes=1234-");
  EXPECT_EQ(result.bytes_transferred, 5000 - 1234);
  EXPECT_EQ(read_text(dir / "file.txt"), body);
}

TEST(Downloader, StartsOverWhenTheServerIgnoresTheRange) {
  FakeHttpServer server;
  FakeResponse whole{200, "the whole file"};
  whole.honour_range = false;
  server.script("/plain", {whole});
  TempDir dir;
  std::ofstream(partial_path(dir / "plain"), std::ios::binary) << "stale partial bytes";
  DownloadResult result = download_file(server.url("/plain"), dir / "plain", fast_options());
  EXPECT_EQ(server.requests().at(0).header("range"), "bytes=19-");
  EXPECT_FALSE(result.resumed);
  EXPECT_EQ(read_text(dir / "plain"), "the whole file");
}

TEST(Downloader, StartsOverWhenThePartialFileIsLongerThanTheFile) {
  FakeHttpServer server;
  server.serve("/short", "short");
  TempDir dir;
  std::ofstream(partial_path(dir / "short"), std::ios::binary)
      << "a partial file longer than the file itself";
  download_file(server.url("/short"), dir / "short", fast_options());
  EXPECT_EQ(read_text(dir / "short"), "short");
  EXPECT_EQ(server.request_count("/short"), 2u);  // 416, then the whole file
}

TEST(Downloader, FollowsRedirects) {
  FakeHttpServer server;
  server.script("/old/name.zip", {FakeResponse{302, "", {{"Location", server.url("/new/name.zip")}}}});
  server.serve("/new/name.zip", "moved content");
  TempDir dir;
  DownloadResult result = download_file(server.url("/old/name.zip"), dir / "name.zip", fast_options());
  EXPECT_EQ(read_text(dir / "name.zip"), "moved content");
  EXPECT_EQ(result.effective_url, server.url("/new/name.zip"));
  EXPECT_EQ(server.request_count("/old/name.zip"), 1u);
}

TEST(Downloader, StopsAtTheRedirectLimit) {
  FakeHttpServer server;
  server.script("/loop", {FakeResponse{302, "", {{"Location", server.url("/loop")}}}});
  TempDir dir;
  DownloadOptions options = fast_options();
  options.max_redirects = 3;
  EXPECT_EQ(download_error(server.url("/loop"), dir / "loop", options).code(), ExitCode::network);
  EXPECT_EQ(server.request_count("/loop"), 4u);
}

TEST(Downloader, RetriesARefusedConnectionAndGivesUp) {
  int port = 0;
  {
    FakeHttpServer closed;  // a port that was free a moment ago and is closed now
    port = closed.port();
  }
  TempDir dir;
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  Error error = download_error(url, dir / "x", fast_options(1));
  EXPECT_EQ(error.code(), ExitCode::network);
  EXPECT_NE(std::string(error.what()).find("gave up after 2 attempts"), std::string::npos) << error.what();
}

}  // namespace
}  // namespace medcode::fetch
