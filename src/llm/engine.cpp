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
// Before the provider's usage has been seen, a prompt is taken to be one token per three characters (most
// tokenizers give four on English; codes, numbers and JSON give fewer).
constexpr double k_initial_tokens_per_char = 1.0 / 3.0;
constexpr double k_input_margin = 1.05;   // over the calibrated tokens per character
constexpr double k_output_margin = 1.25;  // over the mean output tokens per item seen so far (or expected)
constexpr std::int64_t k_output_slack = 32;
// A request of one item cut off at its output limit is sent once more with twice the room, up to this.
constexpr int k_raised_output_limit = 8192;
int raised_output_limit(int limit) { return std::min(k_raised_output_limit, 2 * limit); }

// A logical request, ready to be sent (again).
struct Pending {
  std::vector<WorkItem> items;
  ChatRequest chat;
  std::string key;
  nlohmann::json params;
  std::optional<std::int64_t> repair_of;
  int repairs = 0;
  int attempts = 0;  // sent so far
  std::size_t prompt_chars = 0;
  std::int64_t estimated_input_tokens = 0;
  Clock::time_point ready_at{};
  bool fresh() const { return attempts == 0 && repairs == 0 && !repair_of; }
};

struct InFlight {
  Pending request;
  AttemptId ledger_id;
  double reserved_cost = 0;
  double worst_cost = 0;  // every allowed output token used
  std::int64_t reserved_tokens = 0;
};

// Where a request stands against --max-cost.
enum class BudgetCall {
  send,
  wait,      // until the requests in flight settle
  answered,  // the smaller batch it was cut to came from the ledger
  stop,      // it does not fit: the run ends with the budget spent
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
  std::vector<std::string> secrets;  // the key and header values from the environment: never passed on
  RateLimiter limiter;
  AdaptiveBatcher batcher;
  Backoff backoff;
  std::deque<WorkItem> queue;
  std::deque<Pending> waiting;  // retries and repairs, each with the time it may go
  // While the rate limiter holds a request back, no other may go nor be made from the queue: it would only
  // wait too, and could overtake the held one (a retry or repair, which goes before new work).
  Clock::time_point limited_until{};
  std::map<RequestId, InFlight> in_flight;
  std::map<std::string, int> misses;
  ModelProgress progress;
  bool stopped = false;
  // What the provider counts, learned from the usage of its answers: input tokens per character of the
  // rendered prompt, and output tokens per item asked for.
  double usage_chars = 0;
  double usage_input_tokens = 0;
  double usage_items = 0;
  double usage_output_tokens = 0;
};

// A provider may quote the key or a header it was sent in an error; they never go further than the request.
std::string redact(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.size() < 4) continue;
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
      text.replace(at, secret.size(), "***");
  }
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
  // Continues a request from the ledger: its done answer, or the refused answers already paid for. False
  // when it must be sent.
  bool from_ledger(ModelRun& run, const Pending& pending);
  bool answer_from_cache(ModelRun& run, const Pending& pending, const CachedAnswer& cached);
  // What to do after a refused answer: a repair prompt, a smaller batch, more output room, or giving up.
  void continue_after(ModelRun& run, const Pending& request, const ChainLink& refused);
  // Whether continue_after would give the items up (so a later run sends them afresh instead).
  bool chain_spent(const ModelRun& run, const Pending& request, const ChainLink& refused) const;
  Pending repair_of(ModelRun& run, const Pending& request, const ChainLink& refused) const;
  Pending with_output_limit(ModelRun& run, const Pending& request, std::int64_t answer_id, int limit) const;
  std::int64_t input_estimate(const ModelRun& run, std::size_t chars) const;
  std::int64_t output_estimate(const ModelRun& run, const Pending& pending) const;
  std::int64_t limiter_tokens(const ModelRun& run, const Pending& pending) const;
  double reservation(const ModelRun& run, Pending& pending) const;
  double worst_case(const ModelRun& run, const Pending& pending) const;
  BudgetCall check_budget(ModelRun& run, Pending& pending, double& reserve);
  // Cuts a fresh request to its first `keep` items, the rest back to the front of the queue; false when
  // the smaller batch was answered from the ledger.
  bool cut_to(ModelRun& run, Pending& pending, std::size_t keep);
  // A fresh request over what is left of the budget, cut to the items that fit (false when none does).
  bool fit_budget(ModelRun& run, Pending& pending, double& reserve);
  double committed() const { return m_spent + m_lost + m_reserved; }
  double committed_at_worst() const { return m_spent + m_lost + m_reserved_worst; }
  void warn_if_over_cap() const;
  std::size_t requests_in_flight() const {
    std::size_t n = 0;
    for (const auto& run : m_runs) n += run->in_flight.size();
    return n;
  }
  void send(ModelRun& run, Pending pending, double reserve, Clock::time_point now);
  void settle(ModelRun& run, Completion completion);
  void settle_success(ModelRun& run, InFlight flight, const HttpResponse& response);
  void settle_failure(ModelRun& run, InFlight flight, const HttpResponse& response, const std::string& error,
                      FailureKind kind, bool lost);
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
  double m_spent = 0;     // from the usage of answers read
  double m_lost = 0;      // answers that could not be read, at their reservations (a provider may bill them)
  double m_reserved = 0;  // requests in flight
  double m_reserved_worst = 0;  // requests in flight, each at its worst case
  double m_next_reserve = 0;  // what the request the budget stopped would have reserved
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
  pending.prompt_chars = render_as_text(pending.chat).size();
  pending.estimated_input_tokens = input_estimate(run, pending.prompt_chars);
  return pending;
}

std::int64_t Engine::input_estimate(const ModelRun& run, std::size_t chars) const {
  double per_char = run.usage_chars > 0 ? k_input_margin * run.usage_input_tokens / run.usage_chars
                                        : k_initial_tokens_per_char;
  return static_cast<std::int64_t>(std::ceil(per_char * static_cast<double>(chars))) + 1;
}

std::int64_t Engine::output_estimate(const ModelRun& run, const Pending& pending) const {
  // What the answers so far needed per item; until one has been seen, what the task expects.
  double expected = run.usage_items > 0 ? run.usage_output_tokens / run.usage_items *
                                              static_cast<double>(pending.items.size())
                                        : static_cast<double>(m_task.expected_output_tokens(pending.items));
  auto estimate = static_cast<std::int64_t>(std::ceil(k_output_margin * expected)) + k_output_slack;
  return std::min<std::int64_t>(output_limit(*run.model, pending.chat), estimate);
}

std::int64_t Engine::limiter_tokens(const ModelRun& run, const Pending& pending) const {
  // Until an answer has been seen the limiter holds the whole output limit: some providers count
  // max_tokens against tokens per minute, and a first wave sized on a guess would meet their 429s.
  std::int64_t output =
      run.usage_items > 0 ? output_estimate(run, pending) : output_limit(*run.model, pending.chat);
  return pending.estimated_input_tokens + output;
}

double Engine::reservation(const ModelRun& run, Pending& pending) const {
  pending.estimated_input_tokens = input_estimate(run, pending.prompt_chars);
  return max_cost_usd(run.model->pricing, pending.estimated_input_tokens, output_estimate(run, pending));
}

double Engine::worst_case(const ModelRun& run, const Pending& pending) const {
  return max_cost_usd(run.model->pricing, pending.estimated_input_tokens,
                      output_limit(*run.model, pending.chat));
}

bool Engine::cut_to(ModelRun& run, Pending& pending, std::size_t keep) {
  for (std::size_t i = pending.items.size(); i-- > keep;) run.queue.push_front(pending.items[i]);
  std::vector<WorkItem> items(pending.items.begin(),
                              pending.items.begin() + static_cast<std::ptrdiff_t>(keep));
  pending = make_pending(run, std::move(items));
  if (m_options.use_cache && from_ledger(run, pending)) {
    pending.items.clear();
    return false;
  }
  return true;
}

bool Engine::fit_budget(ModelRun& run, Pending& pending, double& reserve) {
  double left = *m_options.max_cost_usd - committed();
  if (left <= 0) return false;  // an answer longer than its estimate may already have crossed the cap
  while (reserve > left && pending.fresh() && pending.items.size() > 1) {
    // The cost of a batch grows about in proportion to its items.
    auto keep = static_cast<std::size_t>(static_cast<double>(pending.items.size()) * left / reserve);
    if (!cut_to(run, pending, std::clamp<std::size_t>(keep, 1, pending.items.size() - 1))) return false;
    reserve = reservation(run, pending);
  }
  return reserve <= left;
}

BudgetCall Engine::check_budget(ModelRun& run, Pending& pending, double& reserve) {
  const double cap = *m_options.max_cost_usd;
  // Before the model's first answer, under a cap that its batch could cross at worst, one item goes alone:
  // its answer shows cheaply what an item costs, before a whole batch is staked on a guess.
  if (run.usage_items <= 0 && pending.fresh() && pending.items.size() > 1 &&
      committed_at_worst() + worst_case(run, pending) > cap) {
    if (!run.in_flight.empty()) return BudgetCall::wait;
    if (!cut_to(run, pending, 1)) return BudgetCall::answered;
    reserve = reservation(run, pending);
  }
  // Even if every request in flight and this one used all their output tokens, the cap holds.
  if (committed_at_worst() + worst_case(run, pending) <= cap) return BudgetCall::send;
  // Otherwise a request goes only alone, so that at most one answer longer than its estimate can cross the
  // cap; those in flight may also give back part of what they reserve.
  if (requests_in_flight() > 0) return BudgetCall::wait;
  if (committed() + reserve <= cap) return BudgetCall::send;
  if (fit_budget(run, pending, reserve)) return BudgetCall::send;
  return pending.items.empty() ? BudgetCall::answered : BudgetCall::stop;
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

bool Engine::from_ledger(ModelRun& run, const Pending& pending) {
  ResumePoint point = m_ledger.resume(pending.key);
  if (point.done) return answer_from_cache(run, pending, *point.done);
  if (point.chain.empty()) return false;
  // Answers already paid for and refused: rebuild the chain of prompts they answered, then go on from the
  // last one as the run that recorded them would have.
  Pending request = pending;
  for (std::size_t i = 0; i + 1 < point.chain.size(); ++i) {
    const ChainLink& link = point.chain[i];
    request = link.status == "truncated"
                  ? with_output_limit(run, request, link.id, raised_output_limit(output_limit(*run.model, request.chat)))
                  : repair_of(run, request, link);
  }
  // A chain that had run its course was given up, and its items are tried afresh.
  if (chain_spent(run, request, point.chain.back())) return false;
  run.progress.requests_resumed++;
  continue_after(run, request, point.chain.back());
  return true;
}

bool Engine::answer_from_cache(ModelRun& run, const Pending& pending, const CachedAnswer& cached_answer) {
  const CachedAnswer* cached = &cached_answer;
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
  if (now < run.limited_until) {
    next_wake = std::min(next_wake, run.limited_until);
    return std::nullopt;
  }
  while (true) {
    if (!run.waiting.empty()) {
      auto ready = std::min_element(run.waiting.begin(), run.waiting.end(), [](const Pending& a, const Pending& b) {
        return a.ready_at < b.ready_at;
      });
      if (ready->ready_at <= now) {
        Pending pending = std::move(*ready);
        run.waiting.erase(ready);
        return pending;
      }
      next_wake = std::min(next_wake, ready->ready_at);
    }
    if (run.queue.empty()) return std::nullopt;
    std::size_t size =
        std::min(run.queue.size(), static_cast<std::size_t>(std::max(1, run.batcher.batch_size())));
    std::vector<WorkItem> items(run.queue.begin(), run.queue.begin() + static_cast<std::ptrdiff_t>(size));
    run.queue.erase(run.queue.begin(), run.queue.begin() + static_cast<std::ptrdiff_t>(size));
    Pending pending = make_pending(run, std::move(items));
    // Answered from the ledger, or continued from it (the continuation waits in run.waiting, ready now).
    if (m_options.use_cache && from_ledger(run, pending)) continue;
    return pending;
  }
}

void Engine::schedule(ModelRun& run, Clock::time_point now, Clock::time_point& next_wake) {
  while (!run.stopped && !m_budget_stop &&
         static_cast<int>(run.in_flight.size()) < run.batcher.concurrency()) {
    std::optional<Pending> pending = next_request(run, now, next_wake);
    if (!pending) return;
    double reserve = reservation(run, *pending);
    BudgetCall call = m_options.max_cost_usd ? check_budget(run, *pending, reserve) : BudgetCall::send;
    if (call == BudgetCall::answered) continue;
    if (call == BudgetCall::wait) {
      pending->ready_at = now;
      run.waiting.push_front(std::move(*pending));
      return;
    }
    if (call == BudgetCall::stop) {
      spdlog::debug(
          "{}: the next request (~${:.4f}) does not fit the --max-cost cap of ${:.4f} (${:.4f} spent)",
          run.model->name, reserve, *m_options.max_cost_usd, m_spent + m_lost);
      m_budget_stop = true;
      m_next_reserve = reserve;
      run.waiting.push_front(std::move(*pending));
      return;
    }
    auto wait = run.limiter.wait_time(limiter_tokens(run, *pending), now);
    if (wait > Clock::duration::zero()) {
      pending->ready_at = now + wait;
      run.limited_until = pending->ready_at;
      next_wake = std::min(next_wake, pending->ready_at);
      run.waiting.push_front(std::move(*pending));
      return;
    }
    send(run, std::move(*pending), reserve, now);
  }
}

void Engine::send(ModelRun& run, Pending pending, double reserve, Clock::time_point now) {
  std::int64_t tokens = limiter_tokens(run, pending);
  double worst = worst_case(run, pending);
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
  start.reserved_usd = reserve;
  AttemptId ledger_id = m_ledger.start(start);
  pending.attempts++;
  HttpRequest request = run.wire->build(*run.model, pending.chat, run.api_key);
  request.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(run.model->timeout_seconds * 1000));
  RequestId id = run.transport->submit(std::move(request));
  run.progress.requests_sent++;
  m_reserved += reserve;
  m_reserved_worst += worst;
  run.in_flight.emplace(id, InFlight{std::move(pending), ledger_id, reserve, worst, tokens});
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
  if (!results.empty()) m_on_results(run.model->name, flight.ledger_id.request, results);
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
    // A 2xx body that cannot be read was produced, and may be billed.
    settle_failure(run, std::move(flight), response, std::string("unreadable response: ") + e.what(),
                   FailureKind::retryable, true);
    return;
  }
  run.limiter.update(parse_rate_limit_headers(response));
  Usage usage = result.usage.value_or(
      Usage{flight.request.estimated_input_tokens, estimate_tokens(result.text), 0, true});
  run.limiter.settle(flight.reserved_tokens, usage.input_tokens + usage.output_tokens);
  if (!usage.estimated) {
    run.usage_chars += static_cast<double>(flight.request.prompt_chars);
    run.usage_input_tokens += static_cast<double>(usage.input_tokens);
    run.usage_items += static_cast<double>(flight.request.items.size());
    run.usage_output_tokens += static_cast<double>(usage.output_tokens);
  }
  double cost = cost_usd(run.model->pricing, usage);
  m_spent += cost;
  run.progress.cost_usd += cost;
  run.progress.tokens_in += usage.input_tokens;
  run.progress.tokens_out += usage.output_tokens;

  RequestFinish finish;
  finish.response = redact(response.body, run.secrets);
  finish.answer = result.text;
  finish.http_status = response.status;
  finish.usage = usage;
  finish.cost_usd = cost;
  finish.latency_ms = response.seconds * 1000;

  AnswerReading reading;
  std::optional<std::string> problem = check_answer(result.text, flight.request, reading);
  // Stopped at the output limit (the provider says so, or the JSON never closes) with nothing usable.
  bool truncated = (result.truncated || json_cut_off(result.text)) && (problem || reading.results.empty());
  if (truncated) {
    problem = fmt::format("the answer was cut off after {} bytes at the output limit of {} tokens{}",
                          result.text.size(), output_limit(*run.model, flight.request.chat),
                          result.truncated ? fmt::format(" (finish_reason {})", result.finish_reason)
                                           : " (its JSON never closes)");
  }
  if (!problem) {
    finish.status = "done";
    run.batcher.record(Outcome::success, std::chrono::duration<double>(response.seconds));
    accept(run, flight, std::move(reading.results), finish);
    return;
  }
  finish.status = truncated ? "truncated" : "invalid";
  finish.error = *problem;
  // Recorded before anything follows from it: a run killed now continues from this answer.
  m_ledger.finish(flight.ledger_id, finish);
  run.batcher.record(Outcome::failure, std::chrono::duration<double>(response.seconds));
  run.progress.last_error = (truncated ? "" : "invalid answer: ") + *problem;
  continue_after(run, flight.request, ChainLink{flight.ledger_id.request, finish.status, result.text, *problem});
}

Pending Engine::repair_of(ModelRun& run, const Pending& request, const ChainLink& refused) const {
  Pending repair;
  repair.items = request.items;
  repair.chat = request.chat;
  repair.chat.messages.push_back({"assistant", refused.answer});
  repair.chat.messages.push_back({"user", m_task.repair_message(refused.error)});
  repair.params = run.wire->cache_params(*run.model, repair.chat);
  repair.key = request_key(run.model->provider, repair.params, repair.chat, cache_salt());
  repair.repair_of = refused.id;
  repair.repairs = request.repairs + 1;
  repair.prompt_chars = render_as_text(repair.chat).size();
  repair.estimated_input_tokens = input_estimate(run, repair.prompt_chars);
  repair.ready_at = Clock::now();
  return repair;
}

Pending Engine::with_output_limit(ModelRun& run, const Pending& request, std::int64_t answer_id,
                                  int limit) const {
  Pending roomier = request;
  roomier.chat.max_output_tokens = limit;
  roomier.params = run.wire->cache_params(*run.model, roomier.chat);
  roomier.key = request_key(run.model->provider, roomier.params, roomier.chat, cache_salt());
  roomier.repair_of = answer_id;
  roomier.attempts = 0;
  roomier.ready_at = Clock::now();
  return roomier;
}

bool Engine::chain_spent(const ModelRun& run, const Pending& request, const ChainLink& refused) const {
  if (refused.status == "truncated")
    return request.items.size() == 1 &&
           (request.chat.max_output_tokens || output_limit(*run.model, request.chat) >= k_raised_output_limit);
  return request.repairs >= m_options.max_repairs.value_or(run.model->max_repairs);
}

void Engine::continue_after(ModelRun& run, const Pending& request, const ChainLink& refused) {
  if (refused.status == "truncated") {
    if (request.items.size() > 1) {
      // Too much asked of one answer: the halves go again as two requests (unless a killed run had them
      // answered already).
      std::size_t half = request.items.size() / 2;
      std::vector<WorkItem> first(request.items.begin(), request.items.begin() + static_cast<std::ptrdiff_t>(half));
      std::vector<WorkItem> second(request.items.begin() + static_cast<std::ptrdiff_t>(half), request.items.end());
      for (auto* items : {&second, &first}) {
        Pending part = make_pending(run, std::move(*items));
        if (m_options.use_cache && from_ledger(run, part)) continue;
        part.ready_at = Clock::now();
        run.waiting.push_front(std::move(part));
      }
      run.progress.splits++;
      return;
    }
    int limit = output_limit(*run.model, request.chat);
    if (!request.chat.max_output_tokens && limit < k_raised_output_limit) {
      run.waiting.push_back(with_output_limit(run, request, refused.id, raised_output_limit(limit)));
      run.progress.repairs++;
      return;
    }
    give_up(run, request.items,
            fmt::format("{}, even for one item; raise max_output_tokens for {}", refused.error, run.model->name));
    return;
  }
  int max_repairs = m_options.max_repairs.value_or(run.model->max_repairs);
  spdlog::debug("{}: invalid answer ({}), repair {} of {}", run.model->name, refused.error, request.repairs + 1,
                max_repairs);
  if (request.repairs >= max_repairs) {
    give_up(run, request.items,
            fmt::format("invalid answer after {} repair prompts: {}", request.repairs, refused.error));
    return;
  }
  run.progress.repairs++;
  run.waiting.push_back(repair_of(run, request, refused));
}

void Engine::settle_failure(ModelRun& run, InFlight flight, const HttpResponse& response,
                            const std::string& error, FailureKind kind, bool lost) {
  RateLimitInfo limits = parse_rate_limit_headers(response);
  std::optional<int> status = response.status ? std::optional<int>(response.status) : std::nullopt;
  run.progress.last_error = error;
  if (lost) {
    // The answer may have been produced and billed: it counts at its reservation.
    m_lost += flight.reserved_cost;
    run.progress.lost_usd += flight.reserved_cost;
  }
  if (kind == FailureKind::fatal && response.status == 400 && flight.request.chat.max_output_tokens) {
    // The provider refused the larger output limit this request asked for: its items are given up, the
    // model's other work goes on.
    RequestFinish finish;
    finish.status = "failed";
    finish.http_status = status;
    finish.response = redact(response.body, run.secrets);
    finish.error = error;
    m_ledger.finish(flight.ledger_id, finish);
    run.progress.requests_failed++;
    give_up(run, flight.request.items,
            fmt::format("the answer needs more than {} output tokens, and the provider refused {}: {}",
                        run.model->max_output_tokens, *flight.request.chat.max_output_tokens, error));
    return;
  }
  if (kind == FailureKind::fatal) {
    RequestFinish finish;
    finish.status = "failed";
    finish.http_status = status;
    finish.response = redact(response.body, run.secrets);
    finish.error = error;
    finish.lost = lost;
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
    finish.lost = lost;
    m_ledger.finish(flight.ledger_id, finish);
    run.progress.requests_failed++;
    give_up(run, flight.request.items,
            fmt::format("failed after {} attempts: {}", flight.request.attempts, error));
    return;
  }
  m_ledger.note_attempt_failure(flight.ledger_id, status, error, lost);
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
  m_reserved_worst -= flight.worst_cost;
  if (requests_in_flight() == 0) m_reserved = m_reserved_worst = 0;  // no rounding left behind
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
    // A timeout or a body cut off may follow an answer the provider produced and bills.
    bool lost = response.timed_out || (response.status == 0 && !response.not_sent);
    settle_failure(run, std::move(flight), response, redact(error, run.secrets), classify_failure(response), lost);
  }
  record_batch_changes(run);
}

void Engine::record_batch_changes(ModelRun& run) {
  auto changes = run.batcher.take_changes();
  if (changes.empty()) return;
  for (const auto& change : changes) {
    std::string text = describe_batch_change(change);
    if (text.empty()) continue;
    spdlog::debug("{}: {}", run.model->name, text);
    // A size set by --batch-size is no news on the status line.
    if (change.batch_size != change.previous_batch_size && !m_options.fixed_batch_size)
      run.progress.batch_change = text;
  }
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

void Engine::warn_if_over_cap() const {
  if (!m_options.max_cost_usd) return;
  double spent = m_spent + m_lost;
  double over = spent - *m_options.max_cost_usd;
  if (over <= 1e-9) return;
  spdlog::warn(
      "spent ${:.4f}, ${:.4f} over the --max-cost cap of ${:.4f}: an answer was longer than its estimate",
      spent, over, *m_options.max_cost_usd);
}

EngineResult Engine::run(std::vector<ModelWork> work) {
  check_data_use(m_task, work);  // before any key is read, request built or byte sent
  std::uint64_t seed = m_options.seed.value_or(std::random_device{}());
  for (auto& entry : work) {
    auto run = std::make_unique<ModelRun>(*entry.model, seed++);
    run->api_key = api_key(*entry.model);  // Error(usage) before anything is sent when a key is missing
    run->secrets = secrets_in_use(*entry.model);  // the same for a header's variable
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
  warn_if_over_cap();

  EngineResult result;
  result.max_cost_usd = m_options.max_cost_usd;
  result.cost_usd = m_spent;
  result.lost_usd = m_lost;
  result.next_request_usd = m_next_reserve;
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
