// `medcode reranker train`: fits the learned reranker of `index+rerank:PATH` on labelled notes (CodiEsp
// folders, golden JSONL), chooses its threshold on a development set and writes the versioned reranker file.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "context.h"
#include "medcode/codes/catalog.h"
#include "medcode/eval/codiesp.h"
#include "medcode/eval/index_coder.h"
#include "medcode/eval/reranker.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

namespace fs = std::filesystem;

struct RerankerTrainCommandOptions {
  std::vector<std::string> codiesp;
  std::vector<std::string> datasets;
  std::string dev;
  std::string out;
  int year = 0;
  int threads = 0;
  int rounds = 300;
  std::uint64_t seed = 42;
};

// Notes of a CodiEsp folder (diagnoses) or a golden JSONL file (its train split, or lines without one).
std::vector<eval::EvalExample> load_notes(const std::string& source, bool codiesp) {
  if (codiesp) {
    eval::CodiespOptions options{eval::CodiespTask::diagnoses, std::nullopt};
    auto notes = eval::load_codiesp(source, options, nullptr).examples;
    std::erase_if(notes, [](const eval::EvalExample& note) { return note.gold.empty(); });
    return notes;
  }
  return eval::load_train_examples(source);
}

ExitCode run_reranker_train(Context& context, const RerankerTrainCommandOptions& options) {
  if (options.codiesp.empty() && options.datasets.empty())
    fail(ExitCode::usage, "give training notes: --codiesp DIR and/or --dataset FILE");
  std::vector<eval::EvalExample> train;
  for (const auto& dir : options.codiesp) {
    auto notes = load_notes(dir, true);
    spdlog::info("{}: {} training notes", dir, notes.size());
    train.insert(train.end(), notes.begin(), notes.end());
  }
  for (const auto& file : options.datasets) {
    auto notes = load_notes(file, false);
    spdlog::info("{}: {} training examples", file, notes.size());
    train.insert(train.end(), notes.begin(), notes.end());
  }
  std::vector<eval::EvalExample> dev;
  if (!options.dev.empty()) {
    dev = load_notes(options.dev, fs::is_directory(options.dev));
    for (const auto& dir : options.codiesp) {
      std::error_code error;
      if (fs::equivalent(dir, options.dev, error))
        fail(ExitCode::usage, "--dev {} is also a training folder; choose the threshold on held-out notes",
             dir);
    }
  } else {
    spdlog::warn("no --dev notes: the threshold is chosen on the training notes, which overstates its F1");
  }
  eval::require_xgboost();  // before any work: a missing library costs nothing

  auto& run = context.start_run("reranker-train");
  store::Database& db = context.store();
  std::optional<int> year;
  if (options.year != 0) year = options.year;
  codes::ReleaseInfo release = codes::find_release(db, codes::System::icd10cm, year);
  eval::IndexCoderOptions index_options;
  index_options.keep_negated = true;
  index_options.threads = options.threads;
  auto index = eval::IndexCoder::open(db, release, index_options);
  auto bm25 = eval::Bm25Coder::build(db, release, false);

  eval::RerankerTrainOptions train_options;
  train_options.trees.n_rounds = options.rounds;
  train_options.trees.seed = options.seed;
  train_options.trees.n_threads = options.threads;
  train_options.threads = options.threads;
  eval::RerankerSummary summary;
  eval::Reranker reranker = eval::Reranker::train(*index, *bm25, train, dev, train_options, summary);
  reranker.save(options.out);

  nlohmann::json result = summary.to_json();
  result["out"] = options.out;
  result["release"] = codes::release_label(release);
  run.counters() = {{"out", options.out},
                    {"train_notes", summary.train_notes},
                    {"threshold", summary.threshold},
                    {"dev_micro_f1", summary.dev_micro.f1}};
  if (context.json()) {
    std::cout << result.dump(2) << "\n";
    return ExitCode::ok;
  }
  std::cout << fmt::format(
      "reranker trained on {} notes of {}: {} candidates, {} right ({} of {} gold codes are among the "
      "candidates, {:.1f}%)\n",
      summary.train_notes, codes::release_label(release), summary.train_candidates, summary.train_positives,
      summary.train_positives, summary.train_gold,
      summary.train_gold == 0 ? 0.0 : 100.0 * double(summary.train_positives) / double(summary.train_gold));
  std::cout << fmt::format(
      "threshold {:.2f}, chosen on {}: micro precision {:.3f}, recall {:.3f}, f1 {:.3f}\n", summary.threshold,
      summary.dev_notes > 0 ? fmt::format("{} dev notes", summary.dev_notes)
                            : std::string("the training notes"),
      summary.dev_micro.precision, summary.dev_micro.recall, summary.dev_micro.f1);
  std::cout << fmt::format("written to {}; use it with --coder index+rerank:{}\n", options.out, options.out);
  return ExitCode::ok;
}

}  // namespace

void add_reranker_command(CLI::App& app, CommandList& commands) {
  CLI::App* reranker = app.add_subcommand("reranker", "Train the learned reranker of the index coder");
  reranker->require_subcommand(1);
  auto options = std::make_shared<RerankerTrainCommandOptions>();
  CLI::App* train = reranker->add_subcommand(
      "train", "Fit the reranker on labelled notes, choose its threshold on dev notes, write the file");
  train->add_option("--codiesp", options->codiesp, "A CodiEsp folder of training notes (repeatable)");
  train->add_option("--dataset", options->datasets,
                    "A golden JSONL file of training notes, its train split (repeatable)");
  train->add_option("--dev", options->dev,
                    "Held-out notes that choose the threshold: a CodiEsp folder or a JSONL file");
  train->add_option("--out", options->out, "The reranker file to write")->required();
  train->add_option("--year", options->year, "ICD-10-CM release year (default: the newest imported)")
      ->check(CLI::Range(1900, 2999));
  train->add_option("--threads", options->threads, "Threads (0: one per core)")->capture_default_str();
  train->add_option("--rounds", options->rounds, "Boosting rounds")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  train->add_option("--seed", options->seed, "Seed of the trees' row sampling")->capture_default_str();
  commands.push_back({train, [options](Context& context) { return run_reranker_train(context, *options); }});
}

}  // namespace medcode::cli
