// The fake LLM provider as a standalone server for benchmarks: OpenAI, Anthropic and Gemini routes on
// 127.0.0.1 with a fixed latency and per-minute limits (counted in fixed windows of --window-s seconds, or
// a two-second bucket). Prints "listening on PORT"; stops on SIGINT, SIGTERM or end of standard input, then
// prints "served N requests, M answered 429".
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "support/fake_provider.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int int_flag(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  medcode::testing::FakeProviderOptions options;
  options.latency = std::chrono::milliseconds(int_flag(argc, argv, "--latency-ms", 0));
  options.requests_per_minute = int_flag(argc, argv, "--rpm", 0);
  options.tokens_per_minute = int_flag(argc, argv, "--tpm", 0);
  options.window_seconds = int_flag(argc, argv, "--window-s", 0);
  if (int_flag(argc, argv, "--port", 0) != 0) {
    std::fprintf(stderr, "fake_provider_server: only --port 0 (a free port) is supported\n");
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  medcode::testing::FakeProvider provider(options);
  std::printf("listening on %d\n", provider.port());
  std::fflush(stdout);
  pollfd input{STDIN_FILENO, POLLIN, 0};
  char buffer[256];
  while (!g_stop) {
    int ready = ::poll(&input, 1, 200);
    if (ready > 0 && ::read(STDIN_FILENO, buffer, sizeof buffer) <= 0) break;  // standard input closed
  }
  std::size_t rate_limited = 0;
  auto requests = provider.requests();
  for (const auto& request : requests) rate_limited += request.status == 429;
  std::printf("served %zu requests, %zu answered 429\n", requests.size(), rate_limited);
  std::fflush(stdout);
  return 0;
}
