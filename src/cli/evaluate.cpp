// `medcode evaluate`: score a baseline or a trained model on a labelled dataset file, print the metrics and
// record them in the store's `evaluations` table.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "context.h"
#include "medcode/codes/catalog.h"
#include "medcode/dataset/evaluation.h"
#include "medcode/util/error.h"

#ifdef MEDCODE_HAVE_MODEL
#include "medcode/model/predictor.h"
#endif

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

// The coder under test with the name its evaluation is recorded under.
struct CoderUnderTest {
  std::unique_ptr<dataset::Coder> coder;
  std::string name;
};

CoderUnderTest model_coder(store::Database& db, const EvaluateCommandOptions& options) {
#ifdef MEDCODE_HAVE_MODEL
  model::PredictOptions predict;
  predict.model_dir = options.model;
  if (options.year != 0) predict.year = options.year;
  predict.beam_size = options.beam;
  predict.constrained = !options.unconstrained;
  predict.device = options.device;
  predict.threads = options.threads;
  return {std::make_unique<model::ModelCoder>(db, predict), "model:" + options.model};
#else
  (void)db;
  fail(ExitCode::usage, "--model {}: this build has no model support (built without LibTorch)",
       options.model);
#endif
}

CoderUnderTest baseline_coder(store::Database& db, const EvaluateCommandOptions& options,
                              const std::optional<codes::ReleaseInfo>& release) {
  std::vector<dataset::EvalExample> train;
  if (options.baseline == "majority") {
    std::optional<fs::path> path;
    if (!options.train.empty()) path = options.train;
    if (!path) path = dataset::default_train_path(options.dataset);
    if (!path) {
      fail(ExitCode::usage,
           "--baseline majority needs --train FILE (no descriptions-to-codes.golden.train.jsonl beside {})",
           options.dataset);
    }
    train = dataset::load_train_examples(*path);
    spdlog::info("majority baseline over {} training examples of {}", train.size(), path->string());
  }
  auto coder = dataset::make_baseline_coder(db, release, options.baseline, train);
  std::string name = coder->name();
  return {std::move(coder), name};
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

void print_result(const std::string& coder, const std::string& dataset, const dataset::EvalResult& result) {
  std::cout << fmt::format(
      "{} on {}: {} examples, {} gold codes ({} distinct), {} predicted; {} without a "
      "prediction\n\n",
      coder, dataset, result.n_examples, result.n_gold, result.n_labels, result.n_predicted,
      result.n_without_prediction);
  std::cout << fmt::format("{:<12} {:>9} {:>9} {:>9}\n", "", "precision", "recall", "f1");
  auto row = [](const std::string& label, const dataset::PrfScores& scores) {
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

int run_evaluate(Context& context, const EvaluateCommandOptions& options) {
  check_invocation(options);
  auto& run = context.start_run("evaluate");
  store::Database& db = context.store();

  dataset::EvalDatasetOptions dataset_options;
  if (!options.split.empty()) dataset_options.split = options.split;
  if (options.limit > 0) dataset_options.limit = options.limit;
  std::vector<dataset::EvalExample> examples = dataset::load_eval_dataset(options.dataset, dataset_options);

  std::optional<int> year;
  if (options.year != 0) year = options.year;
  std::optional<codes::ReleaseInfo> release = codes::try_find_release(db, codes::System::icd10cm, year);
  if (!release && year) codes::find_release(db, codes::System::icd10cm, year);  // says what to import
  CoderUnderTest under_test =
      options.model.empty() ? baseline_coder(db, options, release) : model_coder(db, options);
  if (!release)
    spdlog::warn("no ICD-10-CM release in the store: per-chapter rows group every code as (none)");

  std::size_t max_k = *std::max_element(options.ks.begin(), options.ks.end());
  std::vector<dataset::Prediction> predictions =
      dataset::predict_all(*under_test.coder, examples, max_k, context.progress());
  dataset::EvalOptions eval_options;
  eval_options.ks = options.ks;
  dataset::ChapterLookup chapter_of;
  if (release) chapter_of = dataset::make_chapter_lookup(db, *release);
  dataset::EvalResult result = dataset::evaluate(examples, predictions, eval_options, chapter_of);

  std::string dataset_path = fs::weakly_canonical(fs::absolute(options.dataset)).string();
  std::int64_t id = dataset::record_evaluation(db, run.id(), under_test.name, dataset_path, result);
  run.counters() = {
      {"evaluation_id", id},         {"coder", under_test.name},    {"n_examples", result.n_examples},
      {"micro_f1", result.micro.f1}, {"macro_f1", result.macro.f1}, {"exact_match", result.exact_match}};
  if (context.json()) {
    nlohmann::json out = result.to_json();
    out["evaluation_id"] = id;
    out["coder"] = under_test.name;
    out["dataset"] = dataset_path;
    std::cout << out.dump(2) << "\n";
  } else {
    print_result(under_test.name, options.dataset, result);
  }
  return 0;
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
  command->add_option("--device", options->device, "--model: auto, cpu, cuda or mps")
      ->envname("MEDCODE_DEVICE")
      ->capture_default_str();
  command->add_option("--threads", options->threads, "--model: CPU threads for LibTorch (0: its default)")
      ->envname("MEDCODE_THREADS")
      ->capture_default_str();
  commands.push_back({command, [options](Context& context) { return run_evaluate(context, *options); }});
}

}  // namespace medcode::cli
