// The engine's event loop: per model, fill the allowed number of requests in flight (within the rate limits
// and the budget), poll the transports, and settle each completion: store a valid answer with its results,
// repair an invalid one, retry a transient failure with backoff, stop the model on a fatal one.
#include "medcode/llm/engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "medcode/llm/backoff.h"
#include "medcode/llm/http_client.h"
#include "medcode/llm/json_answer.h"
#include "medcode/llm/ledger.h"
#include "medcode/llm/pricing.h"
#include "medcode/llm/rate_limiter.h"
#include "medcode/store/runs.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::llm {

namespace {

constexpr int k_max_item_misses = 2;  // an item an answer leaves out this often is given up

// A logical request, ready to be sent (again).
struct Pending {
  std::vector<WorkItem> items;
  ChatRequest chat;
  std::string key;
  nlohmann::json params;
  std::optional<std::int64_t> repair_of;
  int repairs = 0;
  int attempts = 0;  // sent so far
  std::int64_t estimated_input_tokens = 0;
  Clock::time_point ready_at{};
};

struct InFlight {
  Pending request;
  std::int64_t ledger_id = 0;
  double reserved_cost = 0;
  std::int64_t reserved_tokens = 0;
};

struct ModelRun {
  ModelRun(const ModelConfig& config, std::uint64_t seed)
      : model(&config),
        wire(make_wire_format(config.provider)),
        limiter(config.requests_per_minute, config.tokens_per_minute),
        batcher(config.batch, config.initial_concurrency, config.max_concurrency),
        backoff(BackoffPolicy{}, seed) {}

  bool has_work() const { return !in_flight.empty() || (!stopped && (!queue.empty() || !waiting.empty())); }
  std::int64_t items_pending() const {
    std::int64_t n = static_cast<std::int64_t>(queue.size());
    for (const auto& pending : waiting) n += static_cast<std::int64_t>(pending.items.size());
    for (const auto& [id, flight] : in_flight) n += static_cast<std::int64_t>(flight.request.items.size());
    return n;
  }

  const ModelConfig* model;
  std::unique_ptr<WireFormat> wire;
  std::unique_ptr<Transport> transport;
  std::optional<std::string> api_key;
  RateLimiter limiter;
  AdaptiveBatcher batcher;
  Backoff backoff;
  std::deque<WorkItem> queue;
  std::deque<Pending> waiting;  // retries and repairs, each with the time it may go
  std::map<RequestId, InFlight> in_flight;
  std::map<std::string, int> misses;
  ModelProgress progress;
  bool stopped = false;
};

// A provider may quote the key it was sent in an error; the key never goes further than the request.
std::string redact(std::string text, const std::optional<std::string>& key) {
  if (!key || key->size() < 4) return text;
  for (auto at = text.find(*key); at != std::string::npos; at = text.find(*key, at))
    text.replace(at, key->size(), "***");
  return text;
}

std::string short_error(std::string text) {
  text = util::collapse_whitespace(text);
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  return text;
}

class Engine {
 public:
  Engine(store::Database& db, const BatchTask& task, const ResultSink& on_results,
         const FailureSink& on_failure, const EngineOptions& options)
      : m_db(db),
        m_ledger(db),
        m_task(task),
        m_on_results(on_results),
        m_on_failure(on_failure),
        m_options(options) {}

  EngineResult run(std::vector<ModelWork> work);

 private:
  void schedule(ModelRun& run, Clock::time_point now, Clock::time_point& next_wake);
  std::optional<Pending> next_request(ModelRun& run, Clock::time_point now, Clock::time_point& next_wake);
  Pending make_pending(ModelRun& run, std::vector<WorkItem> items);
  bool answer_from_cache(ModelRun& run, const Pending& pending);
  void send(ModelRun& run, Pending pending, double reserve, Clock::time_point now);
  void settle(ModelRun& run, Completion completion);
  void settle_success(ModelRun& run, InFlight flight, const HttpResponse& response);
  void settle_failure(ModelRun& run, InFlight flight, const HttpResponse& response, const std::string& error,
                      FailureKind kind);
  void accept(ModelRun& run, const InFlight& flight, std::vector<ItemResult> results,
              const RequestFinish& finish);
  void give_up(ModelRun& run, const std::vector<WorkItem>& items, const std::string& error);
  std::optional<std::string> check_answer(const std::string& text, const Pending& pending,
                                          AnswerReading& reading) const;
  void record_batch_changes(ModelRun& run);
  void report_progress(bool final);
  // Empty when answers may come from the ledger; with --no-cache, a salt of this run so keys are fresh.
  std::string cache_salt() const {
    return m_options.use_cache ? "" : "fresh:" + std::to_string(m_options.run_id.value_or(0));
  }

  store::Database& m_db;
  Ledger m_ledger;
  const BatchTask& m_task;
  const ResultSink& m_on_results;
  const FailureSink& m_on_failure;
  const EngineOptions& m_options;
  std::vector<std::unique_ptr<ModelRun>> m_runs;
  double m_spent = 0;
  double m_reserved = 0;
  bool m_budget_stop = false;
  Clock::time_point m_started = Clock::now();
  Clock::time_point m_last_progress{};
};

Pending Engine::make_pending(ModelRun& run, std::vector<WorkItem> items) {
  Pending pending;
  pending.items = std::move(items);
  pending.chat = m_task.make_request(pending.items);
  pending.params = run.wire->cache_params(*run.model, pending.chat);
  pending.key = request_key(run.model->provider, pending.params, pending.chat, cache_salt());
  pending.estimated_input_tokens = estimate_tokens(render_as_text(pending.chat));
  return pending;
}

std::optional<std::string> Engine::check_answer(const std::string& text, const Pending& pending,
                                                AnswerReading& reading) const {
  // A cut answer may still hold a whole inner object, which would only fail the schema: say what happened.
  if (json_cut_off(text))
    return fmt::format(
        "the answer is cut off after {} bytes (its JSON never closes: the provider's output limit?)",
        text.size());
  auto answer = extract_json(text);
  if (!answer) return "the answer is not JSON";
  if (pending.chat.schema) {
    if (auto violation = validate_schema(*answer, *pending.chat.schema)) return *violation;
  }
  reading = m_task.read_answer(*answer, pending.items);
  return reading.problem;
}

bool Engine::answer_from_cache(ModelRun& run, const Pending& pending) {
  auto cached = m_ledger.find_done(pending.key);
  if (!cached) return false;
  AnswerReading reading;
  if (check_answer(cached->answer, pending, reading)) return false;  // a stored answer the task now rejects
  for (auto& result : reading.results) result.cached = true;
  store::Transaction transaction(m_db);
  if (!reading.results.empty()) m_on_results(run.model->name, cached->id, reading.results);
  transaction.commit();
  run.progress.requests_cached++;
  run.progress.items_done += static_cast<std::int64_t>(reading.results.size());
  // Items the cached answer left out go round again in a new batch.
  std::set<std::string> answered;
  for (const auto& result : reading.results) answered.insert(result.key);
  for (const auto& item : pending.items) {
    if (!answered.count(item.key) && ++run.misses[item.key] <= k_max_item_misses) run.queue.push_back(item);
  }
  return true;
}

std::optional<Pending> Engine::next_request(ModelRun& run, Clock::time_point now,
                                            Clock::time_point& next_wake) {
  if (!run.waiting.empty()) {
    auto ready = std::min_element(run.waiting.begin(), run.waiting.end(),
                                  [](const Pending& a, const Pending& b) { return a.ready_at < b.ready_at; });
    if (ready->ready_at <= now) {
      Pending pending = std::move(*ready);
      run.waiting.erase(ready);
      return pending;
    }
    next_wake = std::min(next_wake, ready->ready_at);
  }
  while (!run.queue.empty()) {
    std::size_t size =
        std::min(run.queue.size(), static_cast<std::size_t>(std::max(1, run.batcher.batch_size())));
    std::vector<WorkItem> items(run.queue.begin(), run.queue.begin() + static_cast<std::ptrdiff_t>(size));
    run.queue.erase(run.queue.begin(), run.queue.begin() + static_cast<std::ptrdiff_t>(size));
    Pending pending = make_pending(run, std::move(items));
    if (m_options.use_cache && answer_from_cache(run, pending)) continue;
    return pending;
  }
  return std::nullopt;
}

void Engine::schedule(ModelRun& run, Clock::time_point now, Clock::time_point& next_wake) {
  while (!run.stopped && !m_budget_stop &&
         static_cast<int>(run.in_flight.size()) < run.batcher.concurrency()) {
    std::optional<Pending> pending = next_request(run, now, next_wake);
    if (!pending) return;
    double reserve =
        max_cost_usd(run.model->pricing, pending->estimated_input_tokens, run.model->max_output_tokens);
    if (m_options.max_cost_usd && m_spent + m_reserved + reserve > *m_options.max_cost_usd) {
      // A cap that not even the first request fits would stop with nothing spent and nothing said.
      if (m_spent == 0 && m_reserved == 0)
        fail(
            ExitCode::usage,
            "--max-cost ${:.4f} is below what one request to {} may cost (${:.4f}: about {} input tokens and "
            "max_output_tokens {}); raise the cap, or lower the model's max_output_tokens or batch size",
            *m_options.max_cost_usd, run.model->name, reserve, pending->estimated_input_tokens,
            run.model->max_output_tokens);
      m_budget_stop = true;
      run.waiting.push_front(std::move(*pending));
      return;
    }
    std::int64_t tokens = pending->estimated_input_tokens + run.model->max_output_tokens;
    auto wait = run.limiter.wait_time(tokens, now);
    if (wait > Clock::duration::zero()) {
      pending->ready_at = now + wait;
      next_wake = std::min(next_wake, pending->ready_at);
      run.waiting.push_front(std::move(*pending));
      return;
    }
    send(run, std::move(*pending), reserve, now);
  }
}

void Engine::send(ModelRun& run, Pending pending, double reserve, Clock::time_point now) {
  std::int64_t tokens = pending.estimated_input_tokens + run.model->max_output_tokens;
  run.limiter.acquire(tokens, now);
  RequestStart start;
  start.key = pending.key;
  start.model = run.model->name;
  start.provider = run.model->provider;
  start.model_id = run.model->model_id;
  start.task = m_task.name();
  start.n_items = static_cast<std::int64_t>(pending.items.size());
  start.prompt = prompt_json(pending.chat);
  start.params = pending.params;
  start.repair_of = pending.repair_of;
  start.run_id = m_options.run_id;
  std::int64_t ledger_id = m_ledger.start(start);
  pending.attempts++;
  HttpRequest request = run.wire->build(*run.model, pending.chat, run.api_key);
  request.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(run.model->timeout_seconds * 1000));
  RequestId id = run.transport->submit(std::move(request));
  run.progress.requests_sent++;
  m_reserved += reserve;
  run.in_flight.emplace(id, InFlight{std::move(pending), ledger_id, reserve, tokens});
}

void Engine::give_up(ModelRun& run, const std::vector<WorkItem>& items, const std::string& error) {
  std::vector<std::string> keys;
  for (const auto& item : items) keys.push_back(item.key);
  store::Transaction transaction(m_db);
  m_on_failure(run.model->name, keys, error);
  transaction.commit();
  run.progress.items_failed += static_cast<std::int64_t>(items.size());
}

void Engine::accept(ModelRun& run, const InFlight& flight, std::vector<ItemResult> results,
                    const RequestFinish& finish) {
  store::Transaction transaction(m_db);
  m_ledger.finish(flight.ledger_id, finish);
  if (!results.empty()) m_on_results(run.model->name, flight.ledger_id, results);
  transaction.commit();
  run.progress.items_done += static_cast<std::int64_t>(results.size());
  std::set<std::string> answered;
  for (const auto& result : results) answered.insert(result.key);
  std::vector<WorkItem> given_up;
  for (auto it = flight.request.items.rbegin(); it != flight.request.items.rend(); ++it) {
    if (answered.count(it->key)) continue;
    if (++run.misses[it->key] > k_max_item_misses) {
      given_up.push_back(*it);
    } else {
      run.queue.push_front(*it);
    }
  }
  if (!given_up.empty()) give_up(run, given_up, "the model's answers left this item out");
}

void Engine::settle_success(ModelRun& run, InFlight flight, const HttpResponse& response) {
  ChatResult result;
  try {
    result = run.wire->parse(response);
  } catch (const MalformedResponse& e) {
    settle_failure(run, std::move(flight), response, std::string("unreadable response: ") + e.what(),
                   FailureKind::retryable);
    return;
  }
  run.limiter.update(parse_rate_limit_headers(response));
  Usage usage = result.usage.value_or(
      Usage{flight.request.estimated_input_tokens, estimate_tokens(result.text), 0, true});
  run.limiter.settle(flight.reserved_tokens, usage.input_tokens + usage.output_tokens);
  double cost = cost_usd(run.model->pricing, usage);
  m_spent += cost;
  run.progress.cost_usd += cost;
  run.progress.tokens_in += usage.input_tokens;
  run.progress.tokens_out += usage.output_tokens;

  RequestFinish finish;
  finish.response = redact(response.body, run.api_key);
  finish.answer = result.text;
  finish.http_status = response.status;
  finish.usage = usage;
  finish.cost_usd = cost;
  finish.latency_ms = response.seconds * 1000;

  AnswerReading reading;
  std::optional<std::string> problem = check_answer(result.text, flight.request, reading);
  if (!problem && result.truncated && reading.results.empty())
    problem = "the answer was cut off at max_output_tokens";
  if (!problem) {
    finish.status = "done";
    run.batcher.record(Outcome::success, std::chrono::duration<double>(response.seconds));
    accept(run, flight, std::move(reading.results), finish);
    return;
  }
  finish.status = "invalid";
  finish.error = *problem;
  m_ledger.finish(flight.ledger_id, finish);
  run.batcher.record(Outcome::failure, std::chrono::duration<double>(response.seconds));
  run.progress.last_error = "invalid answer: " + *problem;
  int max_repairs = m_options.max_repairs.value_or(run.model->max_repairs);
  spdlog::debug("{}: invalid answer ({}), repair {} of {}", run.model->name, *problem,
                flight.request.repairs + 1, max_repairs);
  if (flight.request.repairs >= max_repairs) {
    give_up(run, flight.request.items,
            fmt::format("invalid answer after {} repair prompts: {}", flight.request.repairs, *problem));
    return;
  }
  Pending repair;
  repair.items = flight.request.items;
  repair.chat = flight.request.chat;
  repair.chat.messages.push_back({"assistant", result.text});
  repair.chat.messages.push_back({"user", m_task.repair_message(*problem)});
  repair.params = flight.request.params;
  repair.key = request_key(run.model->provider, repair.params, repair.chat, cache_salt());
  repair.repair_of = flight.ledger_id;
  repair.repairs = flight.request.repairs + 1;
  repair.estimated_input_tokens = estimate_tokens(render_as_text(repair.chat));
  repair.ready_at = Clock::now();
  run.progress.repairs++;
  run.waiting.push_back(std::move(repair));
}

void Engine::settle_failure(ModelRun& run, InFlight flight, const HttpResponse& response,
                            const std::string& error, FailureKind kind) {
  RateLimitInfo limits = parse_rate_limit_headers(response);
  std::optional<int> status = response.status ? std::optional<int>(response.status) : std::nullopt;
  run.progress.last_error = error;
  if (kind == FailureKind::fatal) {
    RequestFinish finish;
    finish.status = "failed";
    finish.http_status = status;
    finish.response = redact(response.body, run.api_key);
    finish.error = error;
    m_ledger.finish(flight.ledger_id, finish);
    run.stopped = true;
    run.progress.fatal_error = fmt::format("{} ({} {}): {}", run.model->name,
                                           provider_name(run.model->provider), run.model->model_id, error);
    run.progress.requests_failed++;
    return;
  }
  Outcome outcome = response.timed_out                  ? Outcome::timeout
                    : kind == FailureKind::rate_limited ? Outcome::rate_limited
                    : kind == FailureKind::overloaded   ? Outcome::overloaded
                                                        : Outcome::failure;
  run.batcher.record(outcome, std::chrono::duration<double>(response.seconds));
  if (kind == FailureKind::rate_limited) {
    run.limiter.update(limits);
    run.limiter.penalize(std::chrono::milliseconds(
        static_cast<std::int64_t>(1000 * limits.retry_after_seconds.value_or(1.0))));
  }
  if (flight.request.attempts >= run.model->max_attempts) {
    RequestFinish finish;
    finish.status = "failed";
    finish.http_status = status;
    finish.error = error;
    m_ledger.finish(flight.ledger_id, finish);
    run.progress.requests_failed++;
    give_up(run, flight.request.items,
            fmt::format("failed after {} attempts: {}", flight.request.attempts, error));
    return;
  }
  m_ledger.note_attempt_failure(flight.ledger_id, status, error);
  run.progress.retries++;
  flight.request.ready_at =
      Clock::now() + run.backoff.delay(flight.request.attempts, limits.retry_after_seconds);
  spdlog::debug("{}: attempt {} failed ({}); retrying", run.model->name, flight.request.attempts, error);
  run.waiting.push_back(std::move(flight.request));
}

void Engine::settle(ModelRun& run, Completion completion) {
  auto it = run.in_flight.find(completion.id);
  if (it == run.in_flight.end()) return;
  InFlight flight = std::move(it->second);
  run.in_flight.erase(it);
  m_reserved -= flight.reserved_cost;
  const HttpResponse& response = completion.response;
  if (response.status >= 200 && response.status < 300) {
    settle_success(run, std::move(flight), response);
  } else {
    std::string error;
    if (response.timed_out) {
      error = fmt::format("timed out after {:.0f} s", run.model->timeout_seconds);
    } else if (response.status == 0) {
      error = short_error(response.transport_error);
    } else {
      error = fmt::format("HTTP {}: {}", response.status, short_error(run.wire->error_message(response)));
    }
    settle_failure(run, std::move(flight), response, redact(error, run.api_key), classify_failure(response));
  }
  record_batch_changes(run);
}

void Engine::record_batch_changes(ModelRun& run) {
  auto changes = run.batcher.take_changes();
  if (changes.empty()) return;
  auto statement = m_db.prepare(
      "INSERT INTO batch_size_history (run_id, model, batch_size, concurrency, reason, recorded_at) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  for (const auto& change : changes) {
    statement.bind_all(m_options.run_id, run.model->name, change.batch_size, change.concurrency,
                       change.reason, util::utc_now_iso8601());
    statement.run();
  }
}

void Engine::report_progress(bool final) {
  auto now = Clock::now();
  if (!final && now - m_last_progress < m_options.progress_interval) return;
  m_last_progress = now;
  EngineProgress progress;
  progress.elapsed_seconds = std::chrono::duration<double>(now - m_started).count();
  progress.cost_usd = m_spent;
  progress.final = final;
  for (auto& run : m_runs) {
    run->progress.batch_size = run->batcher.batch_size();
    run->progress.concurrency = run->batcher.concurrency();
    run->progress.in_flight = static_cast<int>(run->in_flight.size());
    progress.models.push_back(run->progress);
    if (m_options.run_id) {
      nlohmann::json labels = {{"model", run->model->name}, {"task", m_task.name()}};
      store::record_metric(m_db, *m_options.run_id, "generate.items_done",
                           static_cast<double>(run->progress.items_done), labels);
      store::record_metric(m_db, *m_options.run_id, "generate.cost_usd", run->progress.cost_usd, labels);
      store::record_metric(m_db, *m_options.run_id, "generate.tokens_out",
                           static_cast<double>(run->progress.tokens_out), labels);
      store::record_metric(m_db, *m_options.run_id, "generate.batch_size", run->batcher.batch_size(), labels);
    }
  }
  if (m_options.progress) m_options.progress(progress);
}

EngineResult Engine::run(std::vector<ModelWork> work) {
  check_data_use(m_task, work);  // before any key is read, request built or byte sent
  std::uint64_t seed = m_options.seed.value_or(std::random_device{}());
  for (auto& entry : work) {
    auto run = std::make_unique<ModelRun>(*entry.model, seed++);
    run->api_key = api_key(*entry.model);  // Error(usage) before anything is sent when a key is missing
    run->transport = entry.model->provider == ProviderKind::exec ? make_exec_transport(entry.model->command)
                                                                 : make_curl_transport();
    if (m_options.fixed_batch_size) run->batcher.fix_batch_size(*m_options.fixed_batch_size);
    run->queue.assign(std::make_move_iterator(entry.items.begin()),
                      std::make_move_iterator(entry.items.end()));
    run->progress.model = entry.model->name;
    run->progress.items_total = static_cast<std::int64_t>(run->queue.size());
    record_batch_changes(*run);
    m_runs.push_back(std::move(run));
  }
  report_progress(false);
  while (true) {
    auto now = Clock::now();
    Clock::time_point next_wake = now + m_options.progress_interval;
    bool any_work = false;
    for (auto& run : m_runs) {
      schedule(*run, now, next_wake);
      if (run->has_work() && !(m_budget_stop && run->in_flight.empty())) any_work = true;
    }
    if (!any_work) break;
    std::vector<ModelRun*> active;
    for (auto& run : m_runs) {
      if (!run->in_flight.empty()) active.push_back(run.get());
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_wake - Clock::now());
    wait = std::clamp(wait, std::chrono::milliseconds(0), m_options.progress_interval);
    if (active.empty()) {
      std::this_thread::sleep_for(std::max(wait, std::chrono::milliseconds(1)));
    } else {
      if (active.size() > 1) wait = std::min(wait, std::chrono::milliseconds(5));
      for (ModelRun* run : active) {
        for (auto& completion : run->transport->poll(wait)) settle(*run, std::move(completion));
      }
    }
    report_progress(false);
  }
  report_progress(true);

  EngineResult result;
  result.cost_usd = m_spent;
  result.elapsed_seconds = std::chrono::duration<double>(Clock::now() - m_started).count();
  result.budget_exhausted = m_budget_stop;
  for (auto& run : m_runs) {
    result.items_left += run->items_pending();
    result.models.push_back(run->progress);
  }
  return result;
}

}  // namespace

void check_data_use(const BatchTask& task, const std::vector<ModelWork>& work) {
  if (!task.carries_credentialed_data()) return;
  for (const auto& entry : work) {
    const ModelConfig& model = *entry.model;
    if (model.phi_allowed) continue;
    fail(
        ExitCode::policy,
        "refused by the data-use policy: the {} task sends content derived from credentialed clinical data "
        "(MIMIC), and model {} ({} {}) is not phi_allowed. PhysioNet's data use agreement forbids sending it "
        "to services that keep or learn from it; use a local or self-hosted model, or one under a "
        "zero-retention agreement, and mark it `phi_allowed: true` under models.{} in medcode.yaml",
        task.name(), model.name, provider_name(model.provider), model.model_id, model.name);
  }
}

EngineResult run_engine(store::Database& db, const BatchTask& task, std::vector<ModelWork> work,
                        const ResultSink& on_results, const FailureSink& on_failure,
                        const EngineOptions& options) {
  Engine engine(db, task, on_results, on_failure, options);
  return engine.run(std::move(work));
}

std::vector<ModelPlan> plan_engine(store::Database& db, const BatchTask& task,
                                   const std::vector<ModelWork>& work, const EngineOptions& options) {
  check_data_use(task, work);
  Ledger ledger(db);
  std::vector<ModelPlan> plans;
  for (const auto& entry : work) {
    const ModelConfig& model = *entry.model;
    auto wire = make_wire_format(model.provider);
    ModelPlan plan;
    plan.model = model.name;
    plan.items = static_cast<std::int64_t>(entry.items.size());
    int batch_size = std::clamp(options.fixed_batch_size.value_or(model.batch.initial), 1, 1000);
    for (std::size_t begin = 0; begin < entry.items.size(); begin += static_cast<std::size_t>(batch_size)) {
      std::size_t end = std::min(entry.items.size(), begin + static_cast<std::size_t>(batch_size));
      std::span<const WorkItem> batch(entry.items.data() + begin, end - begin);
      ChatRequest chat = task.make_request(batch);
      plan.requests++;
      if (options.use_cache &&
          ledger.find_done(request_key(model.provider, wire->cache_params(model, chat), chat))) {
        plan.requests_cached++;
        continue;
      }
      std::int64_t input = estimate_tokens(render_as_text(chat));
      std::int64_t output =
          std::min<std::int64_t>(task.expected_output_tokens(batch), model.max_output_tokens);
      plan.input_tokens += input;
      plan.output_tokens += output;
      plan.max_output_tokens += model.max_output_tokens;
      plan.projected_cost_usd += cost_usd(model.pricing, Usage{input, output, 0, true});
      plan.max_cost_usd += max_cost_usd(model.pricing, input, model.max_output_tokens);
    }
    std::int64_t sent = plan.requests - plan.requests_cached;
    double minutes =
        model.requests_per_minute > 0 ? static_cast<double>(sent) / model.requests_per_minute : 0;
    if (model.tokens_per_minute > 0) {
      minutes = std::max(
          minutes, static_cast<double>(plan.input_tokens + plan.output_tokens) / model.tokens_per_minute);
    }
    plan.minutes_at_limits = minutes;
    plans.push_back(plan);
  }
  return plans;
}

}  // namespace medcode::llm
