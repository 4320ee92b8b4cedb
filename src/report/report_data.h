// What the report shows, read from the store in one pass: plain values, so the page writer needs no SQL.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "medcode/store/database.h"

namespace medcode::report {

struct TimePoint {
  double time = 0;  // seconds since the Unix epoch, UTC
  double value = 0;
};
using TimeSeries = std::map<std::string, std::vector<TimePoint>>;  // by model

// The series of the total over all models, where a chart draws one beside each model's.
constexpr const char* k_all_models = "all models";

struct Totals {
  std::int64_t entries = 0;
  std::int64_t codes_covered = 0;  // distinct (system, code) with at least one entry
  double cost_usd = 0;  // every attempt's answer, from its usage
  double lost_usd = 0;  // attempts whose answer was lost (timeouts, cut bodies), at their reservations
  std::int64_t tokens_in = 0;
  std::int64_t tokens_out = 0;
  std::int64_t requests = 0;
  std::int64_t attempts = 0;
  std::int64_t runs = 0;
  std::int64_t interrupted_runs = 0;
};

struct ModelCost {
  std::string model;
  std::int64_t requests = 0;
  std::int64_t tokens_in = 0;
  std::int64_t tokens_out = 0;
  double cost_usd = 0;
  std::int64_t entries = 0;
  std::optional<double> cost_per_entry() const {
    if (entries == 0) return std::nullopt;
    return cost_usd / static_cast<double>(entries);
  }
};

struct RequestOutcomes {
  std::string model;
  std::int64_t done = 0;
  std::int64_t invalid = 0;
  std::int64_t failed = 0;
  std::int64_t in_flight = 0;
  std::int64_t interrupted = 0;
};

struct Latency {
  std::string model;
  std::int64_t requests = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
};

struct MatchQuality {
  std::string match;  // exact | ranked | partial | none
  std::int64_t entries = 0;
  double mean_score = 0;
};

struct ChapterCoverage {
  std::string key;  // '1' .. '22'
  std::string description;
  std::int64_t entries = 0;
  std::int64_t codes_covered = 0;
  std::int64_t billable_codes = 0;
};

struct CategoryCoverage {
  std::string category;  // the first three characters of the code
  std::string description;
  std::int64_t entries = 0;
  std::int64_t codes_covered = 0;
};

struct RunRow {
  std::int64_t id = 0;
  std::string command;
  std::string argv;  // JSON array, secrets already redacted when the run was recorded
  std::string started_at;
  std::string finished_at;
  std::string status;
  std::optional<std::int64_t> exit_code;
  std::string error;
  std::string counters;  // JSON object
};

// A file `model export` wrote (table model_exports).
struct ExportRow {
  std::string path;
  std::string format;  // gguf | hf
  std::string dtype;
  std::string architecture;
  std::string adapter;  // empty: none merged
  std::int64_t bytes = 0;
  std::string sha256;
  std::string exported_at;
};

// One row of `evaluations`: a coder scored on a dataset file by `medcode evaluate`.
struct EvaluationRow {
  std::int64_t id = 0;
  std::string coder;
  std::string dataset;  // the file's path
  std::int64_t n_examples = 0;
  double micro_f1 = 0;
  double macro_f1 = 0;
  double exact_match = 0;
  std::string created_at;
};

// One point of an evaluation's P/R curve: micro P and R with each example's first k ranked codes as its
// answer.
struct CurvePoint {
  std::int64_t k = 0;
  double precision = 0;
  double recall = 0;
};

// The newest evaluation of one coder on one dataset (a CodiEsp folder once per task), with the figures of its
// result JSON: nullopt where the result lacks one (an older evaluation) or cannot be read.
struct CoderScores {
  std::int64_t id = 0;
  std::string coder;
  std::string dataset;  // the file's or folder's path
  std::string task;     // CodiEsp's D or P; "" for a JSONL dataset
  std::int64_t n_examples = 0;
  double micro_f1 = 0;
  std::optional<double> micro_precision;
  std::optional<double> micro_recall;
  std::optional<double> map;
  std::optional<double> precision_at_8;
  std::optional<double> recall_at_8;
  std::vector<CurvePoint> pr_curve;  // by k; empty when the result has none
};

// One attempt of the ledger, as the throughput figures need it. Times are whole seconds since the Unix epoch,
// UTC, as the ledger records them.
struct AttemptSpan {
  std::string model;
  double started = 0;
  double finished = 0;
  std::int64_t n_items = 0;  // the items its request asked for
  bool answered = false;     // status 'done': its items were delivered
  std::optional<double> latency_ms;
};

// What the attempts of one batch size (items per request) delivered, per second of their own latency.
struct BatchSizeRate {
  std::int64_t batch_size = 0;
  std::int64_t attempts = 0;
  double items_per_second = 0;
};

constexpr double k_window_seconds = 60;
// A batch size sent fewer times than this is not yet evidence enough to call it the best.
constexpr std::int64_t k_min_attempts_for_best_batch = 3;

// Items per second of one model over fixed 60-s windows (aligned on the UTC minute) in which it had a request
// in flight. An attempt is in flight from the second it started through the second it finished; an answered
// attempt's items are spread evenly over those seconds. A window's rate is the items spread into it over its
// seconds in flight, so idle time between runs counts nowhere and a window half spent counts only its busy
// half.
struct ModelThroughput {
  std::string model;
  std::int64_t items = 0;  // delivered by answered attempts
  double busy_seconds = 0;
  std::optional<double> average_items_per_second;  // items over busy seconds; nullopt: never in flight
  std::optional<double> peak_items_per_second;     // the best window
  std::optional<double> minimum_items_per_second;  // the worst window (0: in flight, nothing answered)
  std::vector<TimePoint> windows;                  // one point per busy window, at its start
  std::vector<BatchSizeRate> batch_sizes;          // by size
  // The size with the most items per second of latency among those sent at least
  // k_min_attempts_for_best_batch times (a tie goes to the smaller); nullopt when none was.
  std::optional<BatchSizeRate> best_batch;
};

// The throughput of each model in `attempts`, by model name.
std::vector<ModelThroughput> model_throughput(const std::vector<AttemptSpan>& attempts);

// One row of the per-model aggregates table: the ledger's totals with the throughput figures.
struct ModelAggregates {
  std::string model;
  std::int64_t requests = 0;
  std::int64_t tokens_in = 0;
  std::int64_t tokens_out = 0;
  double cost_usd = 0;
  ModelThroughput throughput;
  std::optional<std::int64_t> last_batch_size;  // the adaptive batcher's latest choice (batch_size_history)
};

constexpr int k_score_bins = 10;

struct ReportData {
  std::string store_name;  // file name of the store, without its folder
  std::string generated_at;
  Totals totals;
  std::vector<ModelCost> model_costs;
  TimeSeries items_done;          // cumulative over runs
  TimeSeries batch_size;          // batch_size_history
  TimeSeries tokens_out_metrics;  // generate.tokens_out, cumulative over runs
  TimeSeries tokens_ledger;       // llm_requests tokens in + out, cumulative by finished_at
  TimeSeries items_per_second;    // the busy windows of each model's ModelThroughput
  TimeSeries cost_over_time;      // llm_attempts cost, cumulative by finished_at (k_all_models: their sum)
  std::vector<ModelAggregates> model_aggregates;  // the ledger's models, by name
  // The ledger has requests or generation recorded LLM metrics: without either, the LLM panels fold into one
  // line.
  bool llm_used = false;
  std::vector<RequestOutcomes> outcomes;
  std::vector<Latency> latencies;
  std::vector<std::int64_t> score_bins = std::vector<std::int64_t>(k_score_bins, 0);
  std::vector<MatchQuality> match_quality;
  std::string chapter_release;  // "ICD-10-CM 2023", empty without an ICD-10-CM release
  std::vector<ChapterCoverage> chapters;
  std::vector<CategoryCoverage> top_categories;
  std::vector<EvaluationRow> evaluations;  // newest first
  std::vector<CoderScores> coder_scores;   // by dataset and task, then micro-F1 descending
  // The coders the P/R chart draws: those of `coder_scores` on the dataset and task of the newest evaluation
  // among them that has a curve (indices into `coder_scores`); empty when none has one.
  std::vector<std::size_t> pr_curve_coders;
  std::vector<RunRow> runs;
  std::int64_t runs_not_shown = 0;
  std::vector<ExportRow> exports;  // newest first
};

// Parses "YYYY-MM-DDTHH:MM:SSZ" (or SQLite's "YYYY-MM-DD HH:MM:SS") as UTC; nullopt for anything else.
std::optional<double> parse_utc_time(const std::string& text);

ReportData collect_report_data(store::Database& db);

}  // namespace medcode::report
