// The execution engine: runs a task's items through one or more models side by side, each with its own
// transport, rate limiter, adaptive batcher and retry policy, on one thread driving all requests in flight.
// Every finished answer is stored with what it produced in one transaction, so a run killed at any moment
// resumes without losing or repeating work, and a spending cap holds even for requests still in flight.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "medcode/llm/batcher.h"
#include "medcode/llm/model_config.h"
#include "medcode/llm/wire_format.h"
#include "medcode/store/database.h"

namespace medcode::llm {

// One unit of work (a code to describe), rendered into prompts in batches.
struct WorkItem {
  std::string key;
  nlohmann::json payload;
};

// What the task read from a valid answer for one item.
struct ItemResult {
  std::string key;
  nlohmann::json value;
  bool cached = false;  // set by the engine: the answer came from the ledger, not from a request of this run
};

struct AnswerReading {
  std::vector<ItemResult> results;     // items the answer covers
  std::optional<std::string> problem;  // the whole answer is unusable (then results are ignored)
};

// A task as the engine sees it: prompts from batches, answers read back per item.
class BatchTask {
 public:
  virtual ~BatchTask() = default;
  virtual std::string name() const = 0;
  virtual ChatRequest make_request(std::span<const WorkItem> batch) const = 0;
  // The follow-up message asking the model to fix an answer that failed validation.
  virtual std::string repair_message(const std::string& problem) const = 0;
  // Reads an answer that passed the schema; may still find problems (unknown ids, empty texts).
  virtual AnswerReading read_answer(const nlohmann::json& answer, std::span<const WorkItem> batch) const = 0;
  // About how many output tokens a batch's answer takes: for dry-run projections.
  virtual std::int64_t expected_output_tokens(std::span<const WorkItem> batch) const = 0;
  // True when prompts carry content derived from credentialed clinical data (MIMIC): the engine then refuses,
  // before building or sending any request, every model not marked phi_allowed (the data-use policy).
  virtual bool carries_credentialed_data() const { return false; }
};

// Stores what an answer produced, inside the engine's transaction (with the ledger row closing).
using ResultSink = std::function<void(const std::string& model, std::int64_t request_id,
                                      const std::vector<ItemResult>& results)>;
// Marks items as failed for good (invalid answers after every repair, or requests failed after retries).
using FailureSink = std::function<void(const std::string& model, const std::vector<std::string>& item_keys,
                                       const std::string& error)>;

struct ModelWork {
  const ModelConfig* model = nullptr;
  std::vector<WorkItem> items;  // pending, in order
};

struct ModelProgress {
  std::string model;
  std::int64_t items_total = 0;
  std::int64_t items_done = 0;
  std::int64_t items_failed = 0;
  std::int64_t requests_sent = 0;    // HTTP attempts
  std::int64_t requests_cached = 0;  // answered from the ledger
  std::int64_t retries = 0;
  std::int64_t repairs = 0;
  std::int64_t requests_resumed = 0;  // continued from refused answers a killed run had paid for
  std::int64_t splits = 0;            // batches cut in two after an answer stopped at the output limit
  std::int64_t tokens_in = 0;
  std::int64_t tokens_out = 0;
  double cost_usd = 0;  // from the usage of the answers read
  double lost_usd = 0;  // answers lost to timeouts and cut bodies, at their reservations
  int batch_size = 0;
  int concurrency = 0;
  int in_flight = 0;
  std::int64_t requests_failed = 0;        // given up after every attempt
  std::optional<std::string> last_error;   // the latest failure, for the summary
  std::optional<std::string> fatal_error;  // the model's work stopped on a non-retryable error
  // The latest adaptive change of the batch size, as "batch size 10 → 11 after 3 straight successes";
  // empty while the size has not changed.
  std::string batch_change;
};

struct EngineProgress {
  double elapsed_seconds = 0;
  double cost_usd = 0;
  std::vector<ModelProgress> models;
  bool final = false;
};

struct EngineOptions {
  // A request goes only while what was spent, what lost answers reserved, what requests in flight reserve
  // and its own reservation stay within it; a reservation is the calibrated prompt tokens and the expected
  // output with a margin (the task's expectation until an answer has been seen). Near the cap, where the
  // worst case of what is in flight could cross it, requests go one at a time, so the cap may be passed by
  // at most one request's worst case (an answer longer than its estimate).
  std::optional<double> max_cost_usd;
  bool use_cache = true;               // false: send fresh requests even when the ledger has the answer
  std::optional<int> fixed_batch_size;
  std::optional<int>
      max_repairs;  // repair prompts after an invalid answer; default: each model's max_repairs
  std::optional<std::int64_t> run_id;
  std::function<void(const EngineProgress&)> progress;  // about once a second, and once at the end
  std::chrono::milliseconds progress_interval{1000};
  // A fixed seed makes retry jitter reproducible (tests); otherwise random.
  std::optional<std::uint64_t> seed;
};

struct EngineResult {
  std::vector<ModelProgress> models;
  double cost_usd = 0;  // from the usage of the answers read
  double lost_usd = 0;  // answers that could not be read, at their reservations: a provider may bill them
  double elapsed_seconds = 0;
  bool budget_exhausted = false;  // work was left because the next request could exceed --max-cost
  double next_request_usd = 0;    // what that request would have reserved
  std::int64_t items_left = 0;    // pending at the end (budget, or a model that stopped)
  std::optional<double> max_cost_usd;  // the cap the run had (EngineOptions::max_cost_usd)
};

// Runs `work` (one entry per model) to completion, or until every model has stopped or the budget is spent.
// Error(policy) when the task carries credentialed data and a model is not phi_allowed, Error(usage) when a
// model's API key is missing, both before anything is sent; other failures are reported in the result.
EngineResult run_engine(store::Database& db, const BatchTask& task, std::vector<ModelWork> work,
                        const ResultSink& on_results, const FailureSink& on_failure,
                        const EngineOptions& options);

// Error(policy) unless every model of `work` may receive what `task` sends (see carries_credentialed_data).
void check_data_use(const BatchTask& task, const std::vector<ModelWork>& work);

// What a run would send, without sending anything.
struct ModelPlan {
  std::string model;
  std::int64_t items = 0;
  std::int64_t requests = 0;         // at the model's initial batch size
  std::int64_t requests_cached = 0;  // of those, already answered in the ledger
  std::int64_t input_tokens = 0;     // estimated, uncached requests only
  std::int64_t output_tokens = 0;    // expected
  std::int64_t max_output_tokens = 0;
  double projected_cost_usd = 0;
  double max_cost_usd = 0;       // every request using all its output tokens
  double minutes_at_limits = 0;  // the least time the rate limits allow
};

// Error(policy) as run_engine, for a task carrying credentialed data and a model not phi_allowed.
std::vector<ModelPlan> plan_engine(store::Database& db, const BatchTask& task,
                                   const std::vector<ModelWork>& work, const EngineOptions& options);

}  // namespace medcode::llm
