// `medcode serve`: the coders behind a REST API and a web page, until SIGTERM or SIGINT, which let the
// requests in flight finish before the process exits 0.
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

#include "context.h"
#include "medcode/codes/catalog.h"
#include "medcode/eval/evaluation.h"
#include "medcode/eval/llm_coder.h"
#include "medcode/eval/make_coder.h"
#include "medcode/eval/reranker.h"
#include "medcode/llm/model_config.h"
#include "medcode/model/base_models.h"
#include "medcode/serve/server.h"
#include "medcode/util/error.h"
#include "option_groups.h"

namespace medcode::cli {

namespace {

struct ServeCommandOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> coders;
  std::string adapter;  // model:DIR with a LoRA folder: DIR is its base
  std::string system = "icd10cm";
  std::optional<int> year;
  int workers = 32;
  std::uint64_t max_body = std::uint64_t{20} << 20;
  std::string api_key_env;
  bool log_bodies = false;
  int batch_window_ms = 5;
  std::size_t max_batch = 16;
  std::size_t max_texts = 256;
  std::optional<double> min_score;
  std::string train;  // majority's training examples
  std::size_t beam = 1;
  std::size_t max_codes = 8;
  std::string device = "auto";
  int threads = 0;
  std::size_t shortlist = 40;
  std::optional<double> max_cost_usd;
  bool use_cache = true;
};

std::string coder_kind(const std::string& id) {
  if (id.rfind(eval::k_model_coder_prefix, 0) == 0) return "model";
  if (id.rfind(eval::k_llm_coder_prefix, 0) == 0) return "llm";
  if (id.rfind(eval::k_rerank_coder_prefix, 0) == 0) return "rerank";
  if (id == "bm25+terms") return "bm25";
  return id;
}

std::vector<serve::ServedCoder> open_coders(Context& context, const ServeCommandOptions& options,
                                            const codes::ReleaseInfo& release,
                                            std::optional<llm::ModelRegistry>& models) {
  store::Database& db = context.store();
  std::vector<serve::ServedCoder> served;
  for (const std::string& id : options.coders) {
    if (std::any_of(served.begin(), served.end(), [&](const auto& other) { return other.id == id; }))
      fail(ExitCode::usage, "serve: --coder {} is given twice", id);
    eval::CoderOptions coder_options;
    coder_options.min_score = options.min_score;
    coder_options.threads = options.threads;
    coder_options.model.beam_size = options.beam;
    coder_options.model.max_codes = options.max_codes;
    coder_options.model.batch_size = options.max_batch;  // a gathered batch decodes as one
    coder_options.model.device = options.device;
    coder_options.model.threads = options.threads;
    std::string name = id;
    std::string kind = coder_kind(id);
    if (kind == "model" && !options.adapter.empty()) {
      // model:DIR --adapter A: the adapter on DIR (a folder or a `model import` name) as its base.
      coder_options.model.base = model::resolve_base(db, id.substr(eval::k_model_coder_prefix.size()));
      name = std::string(eval::k_model_coder_prefix) + options.adapter;
    }
    if (kind == "majority") {
      if (options.train.empty()) fail(ExitCode::usage, "serve: --coder majority needs --train FILE.jsonl");
      coder_options.train = eval::load_train_examples(options.train);
    }
    if (kind == "llm") {
      if (!models) models = context.model_registry();
      coder_options.llm.models = &*models;
      coder_options.llm.shortlist = options.shortlist;
      coder_options.llm.engine.max_cost_usd = options.max_cost_usd;
      coder_options.llm.engine.use_cache = options.use_cache;
      if (context.run()) coder_options.llm.engine.run_id = context.run()->id();
    }
    spdlog::info("loading coder {}", id);
    serve::ServedCoder entry;
    entry.id = id;
    entry.kind = kind;
    entry.coder = eval::make_coder(db, release, name, coder_options);
    if (const auto* model_coder = dynamic_cast<const eval::ModelCoder*>(entry.coder.get()))
      entry.version = model_coder->version();
    entry.batching.window = std::chrono::milliseconds(options.batch_window_ms);
    entry.batching.max_batch = options.max_batch;
    entry.batching.threads = options.threads;
    served.push_back(std::move(entry));
  }
  return served;
}

// Waits for SIGTERM or SIGINT (blocked in every thread, so only this one sees them) and stops the server.
void watch_signals(serve::Server& server, const sigset_t& signals, const std::atomic<bool>& done) {
  timespec tick{0, 200'000'000};
  while (!done) {
    int signal = sigtimedwait(&signals, nullptr, &tick);
    if (signal > 0) {
      spdlog::info("{}: finishing the requests in flight, then stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
      server.stop();
      return;
    }
  }
}

ExitCode run_serve(Context& context, const ServeCommandOptions& options) {
  // Block the stop signals before any thread exists (the coders start some), so that every thread
  // inherits the mask and the watcher alone receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server

  if (options.coders.empty()) fail(ExitCode::usage, "serve: give at least one --coder");
  if (!options.adapter.empty() &&
      std::none_of(options.coders.begin(), options.coders.end(), [](const std::string& id) { return coder_kind(id) == "model"; }))
    fail(ExitCode::usage, "serve: --adapter needs a --coder model:BASE");
  serve::ServeOptions serve_options;
  serve_options.host = options.host;
  serve_options.port = options.port;
  serve_options.workers = options.workers;
  serve_options.max_body = options.max_body;
  serve_options.log_bodies = options.log_bodies;
  serve_options.max_texts = options.max_texts;
  if (!options.api_key_env.empty()) {
    std::optional<std::string> key = llm::environment_value(options.api_key_env);
    if (!key) fail(ExitCode::usage, "serve: --api-key-env {}: the variable is not set (environment or ./.env)", options.api_key_env);
    serve_options.api_key = *key;
  }
  if (!std::filesystem::exists(context.options().db))
    fail(ExitCode::bad_input, "{}: no such store (import a code set first)", context.options().db);
  store::Database& db = context.store();
  codes::ReleaseInfo release = codes::find_release(db, codes::require_system(options.system), options.year);
  store::RunRecorder& run = context.start_run("serve");
  std::optional<llm::ModelRegistry> models;
  serve::Server server(serve_options, open_coders(context, options, release, models), db, release);
  int port = server.bind();
  std::string url = fmt::format("http://{}:{}", options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host, port);
  // The address on stdout, flushed, so that a script (or a test) that asked for port 0 learns the port.
  std::cout << "medcode serve: listening on " << url << "\n" << std::flush;
  spdlog::info("serving {} with {} on {} ({} HTTP threads{})", codes::release_label(release),
               fmt::join(options.coders, ", "), url, options.workers,
               serve_options.api_key.empty() ? "" : ", API key required");
  std::atomic<bool> done{false};
  std::thread watcher([&] { watch_signals(server, signals, done); });
  server.run();
  done = true;
  watcher.join();
  std::uint64_t requests = server.metrics().requests_total();
  run.counters()["requests"] = requests;
  spdlog::info("stopped after {} requests", requests);
  return ExitCode::ok;
}

}  // namespace

void add_serve_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<ServeCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "serve", "Code clinical text and PDFs over HTTP: a REST API, OpenAI chat completions and a web page");
  command->add_option("--host", options->host, "Address to listen on")->capture_default_str();
  command->add_option("--port", options->port, "Port to listen on (0: any free port, printed on stdout)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command
      ->add_option("--coder", options->coders,
                   "A coder to serve, repeatable; the first is the default: index, index+rerank:PATH, bm25, "
                   "bm25+terms, majority, model:DIR, llm:MODEL")
      ->default_str("index");
  command->add_option("--adapter", options->adapter, "A LoRA folder for the model:BASE coder");
  command->add_option("--system", options->system, "The code system whose release is served")
      ->check(CLI::IsMember({"icd10cm", "icd10pcs", "hcpcs"}))
      ->capture_default_str();
  command->add_option("--year", options->year, "The release year (default: the newest imported)");
  command->add_option("--workers", options->workers, "HTTP threads: connections served at once (a keep-alive client holds one)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  command->add_option("--max-body", options->max_body, "Largest request body, e.g. 20MB (larger: HTTP 413)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  command->add_option("--api-key-env", options->api_key_env,
                      "Require `Authorization: Bearer KEY` on /v1 and /metrics, KEY read from this environment "
                      "variable (or ./.env)");
  command->add_flag("--log-bodies", options->log_bodies, "Log request bodies (clinical text!); off by default");
  command->add_option("--batch-window-ms", options->batch_window_ms,
                      "How long a text waits for others to be coded with it")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  command->add_option("--max-batch", options->max_batch, "Most texts coded together (1: batching off)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  command->add_option("--max-texts", options->max_texts, "Most texts in one /v1/predict request")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  command->add_option("--min-score", options->min_score,
                      "Document coders: assign only codes scoring at least this (default: the coder's threshold)");
  command->add_option("--train", options->train, "majority: the training examples (JSON Lines)");
  command->add_option("--beam", options->beam, "model:DIR: beam width (1: greedy)")->capture_default_str();
  command->add_option("--max-codes", options->max_codes, "model:DIR: most codes per text")->capture_default_str();
  command
      ->add_option("--shortlist", options->shortlist, "llm:MODEL: the index's best candidates shown to the model")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_engine_options(command, {.max_cost_usd = &options->max_cost_usd, .use_cache = &options->use_cache},
                     "llm:MODEL: ");
  add_device_options(command, options->device, options->threads);
  commands.push_back({command, [options](Context& context) {
                        if (options->coders.empty()) options->coders = {"index"};
                        return run_serve(context, *options);
                      }});
}

}  // namespace medcode::cli
