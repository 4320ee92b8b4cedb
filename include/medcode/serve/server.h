// `medcode serve`: coders behind an HTTP API (and a web page at /), on cpp-httplib.
//   GET  /                      the web page (self-contained)
//   GET  /health                liveness, release and coders
//   GET  /v1/models             the coders served (OpenAI's list shape, with release and model version)
//   GET  /v1/codes/{code}       a code of the served release
//   POST /v1/predict            {text | texts[], top_k, ranked, release, coder}
//   POST /v1/predict/pdf        multipart upload (field `file`) or a raw application/pdf body
//   POST /v1/chat/completions   OpenAI's chat completions, the last user message coded
//   GET  /metrics               Prometheus text format
// Every coder sits behind its own BatchQueue, so concurrent requests are coded in batches and a model is
// loaded once. stop() lets what is in flight finish.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/eval/coder.h"
#include "medcode/serve/batch_queue.h"
#include "medcode/serve/metrics.h"
#include "medcode/store/database.h"

namespace medcode::serve {

struct ServedCoder {
  std::string id;    // as named on the command line: bm25, index, model:DIR, llm:MODEL ...
  std::string kind;  // bm25 | index | rerank | majority | model | llm
  std::unique_ptr<eval::Coder> coder;
  std::string version;  // a model's version; empty for the others
  BatchOptions batching;
};

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (bind() says which)
  int workers = 32;  // HTTP threads: connections served at once (a keep-alive client holds one)
  std::size_t max_body = std::size_t{20} << 20;
  std::string api_key;  // empty: no key; else every /v1 and /metrics request needs `Authorization: Bearer KEY`
  bool log_bodies = false;
  std::size_t max_texts = 256;  // texts in one /v1/predict request
};

// Whether two secrets are equal, in time that does not depend on where they differ (both are hashed first,
// so neither does it reveal the key's length).
bool constant_time_equal(std::string_view a, std::string_view b);

class Server {
 public:
  // The coders are served in the order given; the first is the default. `db` must outlive the server and is
  // used only under the server's lock (code descriptions).
  Server(ServeOptions options, std::vector<ServedCoder> coders, store::Database& db, codes::ReleaseInfo release);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the address; returns the port. Error(usage) naming the address when it cannot be bound.
  int bind();
  // Serves until stop(), then finishes the requests in flight and the coders' queues.
  void run();
  // From any thread (the signal watcher): stop accepting, let what is in flight finish.
  void stop();

  const Metrics& metrics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace medcode::serve
