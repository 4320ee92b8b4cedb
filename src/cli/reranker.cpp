// `medcode reranker train`: fits the learned reranker of `index+rerank:PATH` on labelled notes (CodiEsp
// folders, golden JSONL), chooses its threshold on a development set and writes the versioned reranker file.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "context.h"
#include "medcode/codes/catalog.h"
#include "medcode/eval/codiesp.h"
#include "medcode/eval/index_coder.h"
#include "medcode/eval/make_coder.h"
#include "medcode/eval/reranker.h"
#include "medcode/mimic/table_layout.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

namespace fs = std::filesystem;

struct RerankerTrainCommandOptions {
  std::vector<std::string> codiesp;
  std::vector<std::string> datasets;
  std::string facts;  // a MIMIC source whose admission facts with a discharge note train (and choose)
  std::string dev;
  std::string model;       // a trained model folder whose rankings are a feature
  std::string task = "D";  // CodiEsp task of --codiesp and a CodiEsp --dev: D (diagnoses) or P (procedures)
  std::string out;
  int year = 0;
  int threads = 0;
  int rounds = 300;
  std::uint64_t seed = 42;
};

// Notes of a CodiEsp folder (the task's codes) or a golden JSONL file (its train split, or lines without
// one).
std::vector<eval::EvalExample> load_notes(const std::string& source, bool codiesp, eval::CodiespTask task) {
  if (codiesp) {
    eval::CodiespOptions options{task, std::nullopt};
    auto notes = eval::load_codiesp(source, options, nullptr).examples;
    std::erase_if(notes, [](const eval::EvalExample& note) { return note.gold.empty(); });
    return notes;
  }
  return eval::load_train_examples(source);
}

// The admission facts of one split that have a discharge note and ICD-10-CM diagnoses in their release
// (`cohort facts`): the note is the text, the diagnoses the gold codes.
std::vector<eval::EvalExample> load_facts(store::Database& db, mimic::Source source,
                                          const std::string& split) {
  auto facts = db.prepare(
      "SELECT f.hadm_id, f.note_text, c.code FROM admission_facts AS f JOIN admission_fact_codes AS c ON "
      "c.fact_id = f.id WHERE f.source = ? AND f.split = ? AND f.note_text IS NOT NULL AND c.kind = "
      "'diagnosis' AND c.system = 'icd10cm' AND c.in_release = 1 ORDER BY f.subject_id, f.admittime, "
      "f.hadm_id, "
      "c.seq_num, c.rowid");
  facts.bind(1, mimic::source_name(source));
  facts.bind(2, split);
  std::vector<eval::EvalExample> notes;
  std::int64_t current = -1;
  while (facts.step()) {
    std::int64_t hadm_id = facts.column_int64(0);
    if (hadm_id != current) {
      notes.push_back({facts.column_text(1), {}, std::to_string(hadm_id)});
      current = hadm_id;
    }
    std::string code = facts.column_text(2);
    auto& gold = notes.back().gold;
    if (std::find(gold.begin(), gold.end(), code) == gold.end()) gold.push_back(std::move(code));
  }
  return notes;
}

ExitCode run_reranker_train(Context& context, const RerankerTrainCommandOptions& options) {
  if (options.codiesp.empty() && options.datasets.empty() && options.facts.empty())
    fail(ExitCode::usage, "give training notes: --codiesp DIR, --dataset FILE and/or --facts SOURCE");
  auto task = eval::parse_codiesp_task(options.task);
  if (!task) fail(ExitCode::usage, "--task: '{}' is not D (diagnoses) or P (procedures)", options.task);
  std::optional<mimic::Source> facts_source;
  if (!options.facts.empty()) {
    facts_source = mimic::parse_source(options.facts);
    if (!facts_source) fail(ExitCode::usage, "--facts: '{}' is not mimic-iv or mimic-iii", options.facts);
  }
  std::vector<eval::EvalExample> train;
  for (const auto& dir : options.codiesp) {
    auto notes = load_notes(dir, true, *task);
    spdlog::info("{}: {} training notes", dir, notes.size());
    train.insert(train.end(), notes.begin(), notes.end());
  }
  for (const auto& file : options.datasets) {
    auto notes = load_notes(file, false, *task);
    spdlog::info("{}: {} training examples", file, notes.size());
    train.insert(train.end(), notes.begin(), notes.end());
  }
  std::vector<eval::EvalExample> dev;
  if (!options.dev.empty()) {
    dev = load_notes(options.dev, fs::is_directory(options.dev), *task);
    for (const auto& dir : options.codiesp) {
      std::error_code error;
      if (fs::equivalent(dir, options.dev, error))
        fail(ExitCode::usage, "--dev {} is also a training folder; choose the threshold on held-out notes",
             dir);
    }
  }
  eval::require_xgboost();  // before any work: a missing library costs nothing

  auto& run = context.start_run("reranker-train");
  store::Database& db = context.store();
  if (facts_source) {
    std::string_view name = mimic::source_name(*facts_source);
    std::int64_t n_facts = 0;
    {
      auto count = db.prepare("SELECT count(*) FROM admission_facts WHERE source = ?");
      count.bind(1, name);
      if (count.step()) n_facts = count.column_int64(0);
    }
    if (n_facts == 0)
      fail(ExitCode::bad_input, "the store has no {} admission facts: run `medcode cohort facts` first",
           name);
    if (*task != eval::CodiespTask::diagnoses)
      fail(ExitCode::usage,
           "--facts trains on diagnoses (--task D): admission facts code them with ICD-10-CM");
    auto notes = load_facts(db, *facts_source, "train");
    spdlog::info("{} admission facts: {} training notes with a discharge note and ICD-10-CM diagnoses", name,
                 notes.size());
    train.insert(train.end(), notes.begin(), notes.end());
    if (options.dev.empty()) {
      dev = load_facts(db, *facts_source, "val");
      spdlog::info("{} admission facts: {} validation notes choose the threshold", name, dev.size());
    }
  }
  if (train.empty()) fail(ExitCode::bad_input, "reranker: no training notes with gold codes");
  if (dev.empty())
    spdlog::warn("no --dev notes: the threshold is chosen on the training notes, which overstates its F1");
  std::optional<int> year;
  if (options.year != 0) year = options.year;
  codes::ReleaseInfo release = codes::find_release(db, eval::codiesp_system(*task), year);
  eval::IndexCoderOptions index_options;
  index_options.keep_negated = true;
  index_options.threads = options.threads;
  auto index = eval::IndexCoder::open(db, release, index_options);
  auto bm25 = eval::Bm25Coder::build(db, release, false);

  std::unique_ptr<eval::Coder> model;
  if (!options.model.empty()) {
    std::error_code error;
    if (!fs::is_directory(options.model, error))
      fail(ExitCode::bad_input, "--model {}: not a model folder", options.model);
    model = eval::make_coder(db, release, std::string(eval::k_model_coder_prefix) + options.model);
  }

  eval::RerankerTrainOptions train_options;
  train_options.model = model.get();
  train_options.model_dir = options.model;
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
    std::cout << result.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
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
  train->add_option("--facts", options->facts,
                    "mimic-iv or mimic-iii: its admission facts with a discharge note (`cohort facts`), the "
                    "train split; the val split chooses the threshold when --dev is not given");
  train->add_option("--dev", options->dev,
                    "Held-out notes that choose the threshold: a CodiEsp folder or a JSONL file");
  train
      ->add_option("--task", options->task,
                   "D: diagnoses, candidates of ICD-10-CM; P: procedures, of ICD-10-PCS (CodiEsp's *D.tsv or "
                   "*P.tsv)")
      ->capture_default_str();
  train->add_option("--model", options->model,
                    "A trained model folder (`medcode train`): its ranking of each note is a feature, and "
                    "index+rerank:PATH opens it again");
  train->add_option("--out", options->out, "The reranker file to write")->required();
  train
      ->add_option("--year", options->year,
                   "Release year of ICD-10-CM, or ICD-10-PCS for --task P (default: the newest imported)")
      ->check(CLI::Range(1900, 2999));
  train->add_option("--threads", options->threads, "Threads (0: one per core)")->capture_default_str();
  train->add_option("--rounds", options->rounds, "Boosting rounds")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  train->add_option("--seed", options->seed, "Seed of the trees' row sampling")->capture_default_str();
  commands.push_back({train, [options](Context& context) { return run_reranker_train(context, *options); }});
}

}  // namespace medcode::cli
