// `medcode evaluate`: score a baseline or a trained model on a labelled dataset file, print the metrics and
// record them in the store's `evaluations` table.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "context.h"
#include "option_groups.h"
#include "medcode/codes/catalog.h"
#include "medcode/eval/evaluation.h"
#include "medcode/eval/make_coder.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

namespace fs = std::filesystem;

struct EvaluateCommandOptions {
  std::string dataset;
  std::string baseline;
  std::string model;
  std::string train;
  std::vector<std::size_t> ks = {1, 3, 5};
  std::string split;
  std::size_t limit = 0;
  int year = 0;
  std::size_t beam = 1;
  bool unconstrained = false;
  std::string device = "auto";
  int threads = 0;
};

// The coder under test: a baseline (majority over the training examples, or bm25) or `model:DIR`.
std::unique_ptr<eval::Coder> coder_under_test(store::Database& db, const EvaluateCommandOptions& options,
                                              const std::optional<codes::ReleaseInfo>& release) {
  eval::CoderOptions coder_options;
  if (options.baseline == "majority") {
    std::optional<fs::path> path;
    if (!options.train.empty()) path = options.train;
    if (!path) path = eval::default_train_path(options.dataset);
    if (!path) {
      fail(ExitCode::usage,
           "--baseline majority needs --train FILE (no descriptions-to-codes.golden.train.jsonl beside {})",
           options.dataset);
    }
    coder_options.train = eval::load_train_examples(*path);
    spdlog::info("majority baseline over {} training examples of {}", coder_options.train.size(), path->string());
  }
  coder_options.model.beam_size = options.beam;
  coder_options.model.constrained = !options.unconstrained;
  coder_options.model.device = options.device;
  coder_options.model.threads = options.threads;
  if (options.year != 0) coder_options.model.year = options.year;
  std::string name = options.model.empty() ? options.baseline : std::string(eval::k_model_coder_prefix) + options.model;
  return eval::make_coder(db, release, name, coder_options);
}

void check_invocation(const EvaluateCommandOptions& options) {
  if (options.baseline.empty() == options.model.empty()) {
    fail(ExitCode::usage, "give exactly one of --baseline (majority, bm25) and --model DIR");
  }
  if (options.ks.empty()) fail(ExitCode::usage, "--k: give at least one cut-off");
  for (std::size_t k : options.ks) {
    if (k == 0) fail(ExitCode::usage, "--k: every cut-off must be at least 1");
  }
}

void print_result(const std::string& coder, const std::string& dataset, const eval::EvalResult& result) {
  std::cout << fmt::format(
      "{} on {}: {} examples, {} gold codes ({} distinct), {} predicted; {} without a "
      "prediction\n\n",
      coder, dataset, result.n_examples, result.n_gold, result.n_labels, result.n_predicted,
      result.n_without_prediction);
  std::cout << fmt::format("{:<12} {:>9} {:>9} {:>9}\n", "", "precision", "recall", "f1");
  auto row = [](const std::string& label, const eval::PrfScores& scores) {
    std::cout << fmt::format("{:<12} {:>9.3f} {:>9.3f} {:>9.3f}\n", label, scores.precision, scores.recall,
                             scores.f1);
  };
  row("micro", result.micro);
  row("macro", result.macro);
  for (const auto& at : result.at_k) {
    std::cout << fmt::format("{:<12} {:>9.3f} {:>9.3f}\n", fmt::format("@{}", at.k), at.precision, at.recall);
  }
  std::cout << fmt::format("{:<12} {:>9.3f}\n\n", "exact match", result.exact_match);
  std::cout << fmt::format("{:<12} {:>9} {:>9} {:>9} {:>9}\n", "chapter", "support", "precision", "recall",
                           "f1");
  for (const auto& chapter : result.chapters) {
    std::cout << fmt::format("{:<12} {:>9} {:>9.3f} {:>9.3f} {:>9.3f}\n",
                             chapter.chapter.empty() ? "(none)" : chapter.chapter, chapter.support,
                             chapter.scores.precision, chapter.scores.recall, chapter.scores.f1);
  }
}

ExitCode run_evaluate(Context& context, const EvaluateCommandOptions& options) {
  check_invocation(options);
  auto& run = context.start_run("evaluate");
  store::Database& db = context.store();

  eval::EvalDatasetOptions dataset_options;
  if (!options.split.empty()) dataset_options.split = options.split;
  if (options.limit > 0) dataset_options.limit = options.limit;
  std::vector<eval::EvalExample> examples = eval::load_eval_dataset(options.dataset, dataset_options);

  std::optional<int> year;
  if (options.year != 0) year = options.year;
  std::optional<codes::ReleaseInfo> release = codes::try_find_release(db, codes::System::icd10cm, year);
  if (!release && year) codes::find_release(db, codes::System::icd10cm, year);  // says what to import
  std::unique_ptr<eval::Coder> coder = coder_under_test(db, options, release);
  if (!release)
    spdlog::warn("no ICD-10-CM release in the store: per-chapter rows group every code as (none)");

  std::size_t max_k = *std::max_element(options.ks.begin(), options.ks.end());
  std::vector<eval::Prediction> predictions =
      eval::predict_all(*coder, examples, max_k, context.progress());
  eval::EvalOptions eval_options;
  eval_options.ks = options.ks;
  eval::ChapterLookup chapter_of;
  if (release) chapter_of = eval::make_chapter_lookup(db, *release);
  eval::EvalResult result = eval::evaluate(examples, predictions, eval_options, chapter_of);

  std::string dataset_path = fs::weakly_canonical(fs::absolute(options.dataset)).string();
  std::int64_t id = eval::record_evaluation(db, run.id(), coder->name(), dataset_path, result);
  run.counters() = {
      {"evaluation_id", id},         {"coder", coder->name()},    {"n_examples", result.n_examples},
      {"micro_f1", result.micro.f1}, {"macro_f1", result.macro.f1}, {"exact_match", result.exact_match}};
  if (context.json()) {
    nlohmann::json out = result.to_json();
    out["evaluation_id"] = id;
    out["coder"] = coder->name();
    out["dataset"] = dataset_path;
    std::cout << out.dump(2) << "\n";
  } else {
    print_result(coder->name(), options.dataset, result);
  }
  return ExitCode::ok;
}

}  // namespace

void add_evaluate_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<EvaluateCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "evaluate", "Score a baseline or a trained model on a labelled JSONL dataset and record the metrics");
  command->add_option("--dataset", options->dataset, "JSONL file with `text` and `codes` per line")
      ->required();
  command
      ->add_option("--baseline", options->baseline,
                   "majority (most frequent training codes) or bm25 (retrieval over tabular text)")
      ->check(CLI::IsMember({"majority", "bm25"}));
  command->add_option("--model", options->model, "A trained model's folder (builds with LibTorch)");
  command->add_option("--train", options->train,
                      "majority: training JSONL (default: descriptions-to-codes.golden.train.jsonl beside "
                      "--dataset)");
  command->add_option("--k", options->ks, "Cut-offs of precision@k and recall@k, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("--split", options->split, "Only lines whose `split` is this (default: every line)");
  command->add_option("--limit", options->limit, "Only the first N examples (default: all)")
      ->check(CLI::PositiveNumber);
  command->add_option("--year", options->year, "ICD-10-CM release year (default: the newest imported)")
      ->check(CLI::Range(1900, 2999));
  command->add_option("--beam", options->beam, "--model: beam width (1: greedy); other beams widen P@k")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--unconstrained", options->unconstrained,
                    "--model: let the model emit any tokens, not only the release's valid codes");
  add_device_options(command, options->device, options->threads, "--model: ");
  commands.push_back({command, [options](Context& context) { return run_evaluate(context, *options); }});
}

}  // namespace medcode::cli
