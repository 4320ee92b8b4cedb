// `medcode evaluate`: score a coder on a labelled JSONL file or a CodiEsp split, print the metrics, record
// them in the store's `evaluations` table and, for CodiEsp, write the files the track's official scorer
// reads.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "context.h"
#include "medcode/codes/catalog.h"
#include "medcode/eval/codiesp.h"
#include "medcode/eval/evaluation.h"
#include "medcode/eval/llm_coder.h"
#include "medcode/eval/make_coder.h"
#include "medcode/model/base_models.h"
#include "medcode/util/error.h"
#include "option_groups.h"

namespace medcode::cli {

namespace {

namespace fs = std::filesystem;

const std::vector<std::size_t> k_default_ks = {1, 3, 5};
const std::vector<std::size_t> k_codiesp_ks = {1, 5, 8, 15};
constexpr std::size_t k_codiesp_depth = 100;

struct EvaluateCommandOptions {
  std::string dataset;
  std::string codiesp;
  std::string task;  // CodiEsp task; empty: D
  std::string coder;
  std::string baseline;
  std::string model;
  std::string base;  // a pretrained base: the adapter's in place of the one it names
  std::string train;
  std::vector<std::size_t> ks;  // empty: k_default_ks, or k_codiesp_ks with --codiesp
  std::string split;
  std::size_t limit = 0;
  std::size_t depth = 0;  // codes ranked per example; 0: 100 with --codiesp, else the largest k
  int year = 0;
  std::size_t beam = 1;
  bool unconstrained = false;
  std::string device = "auto";
  int threads = 0;
  std::optional<double> min_score;
  std::size_t top_k = 0;
  std::string submission;
  std::size_t shortlist = 40;          // llm:MODEL
  std::optional<double> max_cost_usd;  // llm:MODEL
  bool use_cache = true;               // llm:MODEL
  bool dry_run = false;                // llm:MODEL
};

// What the coder is scored on.
struct EvalInputs {
  std::vector<eval::EvalExample> examples;
  std::optional<codes::ReleaseInfo> release;  // the codes' release, when imported
  std::optional<eval::CodiespTask> task;      // CodiEsp only
  eval::CodeMembership in_release;            // CodiEsp only: the gold is checked against the release
  std::string label;                          // how the header names the dataset
};

void check_invocation(const EvaluateCommandOptions& options) {
  int n_coders = !options.coder.empty() + !options.baseline.empty() + !options.model.empty();
  if (n_coders != 1) {
    fail(ExitCode::usage,
         "give exactly one of --baseline (majority, bm25), --model DIR and --coder NAME (any coder name)");
  }
  if (options.dataset.empty() == options.codiesp.empty())
    fail(ExitCode::usage, "give exactly one of --dataset FILE and --codiesp DIR");
  if (options.codiesp.empty()) {
    if (!options.task.empty()) fail(ExitCode::usage, "--task applies to --codiesp only");
    if (!options.submission.empty()) fail(ExitCode::usage, "--submission applies to --codiesp only");
  } else if (!options.split.empty()) {
    fail(ExitCode::usage, "--split applies to --dataset only (a CodiEsp folder is one split)");
  }
  for (std::size_t k : options.ks) {
    if (k == 0) fail(ExitCode::usage, "--k: every cut-off must be at least 1");
  }
  if (options.dry_run && options.coder.rfind(eval::k_llm_coder_prefix, 0) != 0)
    fail(ExitCode::usage, "--dry-run applies to --coder llm:MODEL only");
}

std::string coder_name(const EvaluateCommandOptions& options) {
  if (!options.model.empty()) return std::string(eval::k_model_coder_prefix) + options.model;
  return options.coder.empty() ? options.baseline : options.coder;
}

eval::CodiespTask codiesp_task(const EvaluateCommandOptions& options) {
  return eval::parse_codiesp_task(options.task.empty() ? "D" : options.task).value();
}

std::optional<int> year_of(const EvaluateCommandOptions& options) {
  return options.year != 0 ? std::optional<int>(options.year) : std::nullopt;
}

EvalInputs load_codiesp_inputs(store::Database& db, const EvaluateCommandOptions& options) {
  EvalInputs inputs;
  inputs.task = codiesp_task(options);
  inputs.release = codes::find_release(db, eval::codiesp_system(*inputs.task), year_of(options));
  inputs.in_release = eval::make_code_membership(db, *inputs.release);
  eval::CodiespOptions codiesp_options{*inputs.task, std::nullopt};
  if (options.limit > 0) codiesp_options.limit = options.limit;
  eval::CodiespDataset dataset = eval::load_codiesp(options.codiesp, codiesp_options, inputs.in_release);
  spdlog::info("{}: {} documents ({} without a label), {} label lines in {}", options.codiesp,
               dataset.examples.size(), dataset.n_without_gold, dataset.n_label_lines,
               dataset.folder.label_file.filename().string());
  if (dataset.unknown.n_gold > 0) {
    spdlog::warn("{}: {} gold codes ({} distinct, e.g. {}) are not in {}; they stay in the gold, as misses",
                 dataset.folder.label_file.string(), dataset.unknown.n_gold, dataset.unknown.n_codes,
                 fmt::join(dataset.unknown.examples, ", "), codes::release_label(*inputs.release));
  }
  inputs.examples = std::move(dataset.examples);
  inputs.label = fmt::format("{} (CodiEsp-{})", options.codiesp, eval::codiesp_task_letter(*inputs.task));
  return inputs;
}

EvalInputs load_jsonl_inputs(store::Database& db, const EvaluateCommandOptions& options) {
  EvalInputs inputs;
  eval::EvalDatasetOptions dataset_options;
  if (!options.split.empty()) dataset_options.split = options.split;
  if (options.limit > 0) dataset_options.limit = options.limit;
  inputs.examples = eval::load_eval_dataset(options.dataset, dataset_options);
  inputs.release = codes::try_find_release(db, codes::System::icd10cm, year_of(options));
  if (!inputs.release && options.year != 0)
    codes::find_release(db, codes::System::icd10cm, year_of(options));  // says what to import
  if (!inputs.release)
    spdlog::warn("no ICD-10-CM release in the store: per-chapter rows group every code as (none)");
  inputs.label = options.dataset;
  return inputs;
}

// The training file or CodiEsp folder of `majority`: --train, else the one beside the dataset.
std::optional<fs::path> majority_train_path(const EvaluateCommandOptions& options) {
  if (!options.train.empty()) return fs::path(options.train);
  if (options.codiesp.empty()) return eval::default_train_path(options.dataset);
  std::error_code error;
  fs::path sibling = fs::weakly_canonical(fs::absolute(options.codiesp), error).parent_path() / "train";
  if (fs::is_directory(sibling, error)) return sibling;
  return std::nullopt;
}

std::vector<eval::EvalExample> majority_training(const EvaluateCommandOptions& options,
                                                 const EvalInputs& inputs) {
  std::optional<fs::path> path = majority_train_path(options);
  if (!path) {
    fail(ExitCode::usage, "majority needs --train ({})",
         options.codiesp.empty()
             ? fmt::format("no descriptions-to-codes.golden.train.jsonl beside {}", options.dataset)
             : fmt::format("no train folder beside {}", options.codiesp));
  }
  std::error_code error;
  std::vector<eval::EvalExample> train;
  if (fs::is_directory(*path, error)) {
    eval::CodiespOptions codiesp_options{inputs.task.value_or(eval::CodiespTask::diagnoses), std::nullopt};
    train = eval::load_codiesp(*path, codiesp_options, nullptr).examples;
    if (!options.codiesp.empty() && fs::equivalent(*path, options.codiesp, error))
      spdlog::warn("majority counts the labels of the folder it is evaluated on ({})", path->string());
  } else {
    train = eval::load_train_examples(*path);
  }
  spdlog::info("majority baseline over {} training examples of {}", train.size(), path->string());
  return train;
}

std::unique_ptr<eval::Coder> coder_under_test(Context& context, const EvaluateCommandOptions& options,
                                              const EvalInputs& inputs) {
  store::Database& db = context.store();
  const std::string name = coder_name(options);
  eval::CoderOptions coder_options;
  // The model table is read only for an llm: coder, so a broken model config cannot stop the others.
  std::optional<llm::ModelRegistry> models;
  if (name.rfind(eval::k_llm_coder_prefix, 0) == 0) {
    models = context.model_registry();
    coder_options.llm.models = &*models;
    coder_options.llm.shortlist = options.shortlist;
    coder_options.llm.engine.max_cost_usd = options.max_cost_usd;
    coder_options.llm.engine.use_cache = options.use_cache;
    if (context.run()) coder_options.llm.engine.run_id = context.run()->id();
  }
  if (name == "majority") coder_options.train = majority_training(options, inputs);
  coder_options.model.beam_size = options.beam;
  coder_options.model.constrained = !options.unconstrained;
  coder_options.model.device = options.device;
  coder_options.model.threads = options.threads;
  if (!options.base.empty()) coder_options.model.base = model::resolve_base(db, options.base);
  if (options.year != 0) coder_options.model.year = options.year;
  coder_options.min_score = options.min_score;
  coder_options.top_k = options.top_k;
  coder_options.threads = options.threads;
  return eval::make_coder(db, inputs.release, name, coder_options);
}

void print_at_k(const std::string& prefix, const std::vector<eval::ScoresAtK>& rows) {
  for (const auto& at : rows) {
    std::cout << fmt::format("{:<12} {:>9.3f} {:>9.3f}\n", fmt::format("{}@{}", prefix, at.k), at.precision,
                             at.recall);
  }
}

void print_header(const std::string& coder, const EvalInputs& inputs, const eval::EvalResult& result) {
  std::cout << fmt::format(
      "{} on {}: {} examples, {} gold codes ({} distinct), {} predicted; {} without a prediction", coder,
      inputs.label, result.n_examples, result.n_gold, result.n_labels, result.n_predicted,
      result.n_without_prediction);
  if (result.n_without_gold > 0) std::cout << fmt::format(", {} without gold", result.n_without_gold);
  std::cout << "\n";
  if (result.unknown_gold && inputs.release) {
    const eval::UnknownGold& unknown = *result.unknown_gold;
    std::cout << fmt::format(
        "gold codes not in {}: {} ({} distinct{}), counted as misses\n",
        codes::release_label(*inputs.release), unknown.n_gold, unknown.n_codes,
        unknown.examples.empty() ? "" : fmt::format(", e.g. {}", fmt::join(unknown.examples, ", ")));
  }
  std::cout << "\n";
}

void print_result(const std::string& coder, const EvalInputs& inputs, const eval::EvalResult& result) {
  print_header(coder, inputs, result);
  std::cout << fmt::format("{:<12} {:>9} {:>9} {:>9}\n", "", "precision", "recall", "f1");
  auto row = [](const std::string& label, const eval::PrfScores& scores) {
    std::cout << fmt::format("{:<12} {:>9.3f} {:>9.3f} {:>9.3f}\n", label, scores.precision, scores.recall,
                             scores.f1);
  };
  row("micro", result.micro);
  row("macro", result.macro);
  std::cout << fmt::format("{:<12} {:>9.3f}\n", "MAP", result.map);
  print_at_k("", result.at_k);
  print_at_k("category ", result.category_at_k);
  std::cout << fmt::format("{:<12} {:>9.3f}\n\n", "exact match", result.exact_match);
  std::cout << fmt::format("{:<12} {:>9} {:>9} {:>9} {:>9}\n", "chapter", "support", "precision", "recall",
                           "f1");
  for (const auto& chapter : result.chapters) {
    std::cout << fmt::format("{:<12} {:>9} {:>9.3f} {:>9.3f} {:>9.3f}\n",
                             chapter.chapter.empty() ? "(none)" : chapter.chapter, chapter.support,
                             chapter.scores.precision, chapter.scores.recall, chapter.scores.f1);
  }
}

nlohmann::json submission_json(const eval::CodiespSubmission& submission) {
  return {{"ranking", submission.ranking.string()},
          {"assigned", submission.assigned.string()},
          {"evidence", submission.evidence.string()},
          {"n_assigned_without_evidence", submission.n_assigned_without_evidence}};
}

void print_submission(const eval::CodiespSubmission& submission) {
  std::cout << fmt::format(
      "\nsubmission: {} (rankings, for MAP), {} (assigned codes, for P/R/F1), {} (evidence; {} assigned "
      "codes "
      "had none)\n",
      submission.ranking.string(), submission.assigned.string(), submission.evidence.string(),
      submission.n_assigned_without_evidence);
}

nlohmann::json llm_totals_json(const eval::LlmCoderTotals& totals) {
  return {{"notes", totals.notes},
          {"notes_without_answer", totals.notes_without_answer},
          {"notes_without_shortlist", totals.notes_without_shortlist},
          {"requests", totals.requests},
          {"requests_cached", totals.requests_cached},
          {"repairs", totals.repairs},
          {"tokens_in", totals.tokens_in},
          {"tokens_out", totals.tokens_out},
          {"cost_usd", totals.cost_usd},
          {"picks", totals.picks},
          {"picks_outside_shortlist", totals.picks_outside_shortlist},
          {"quotes_not_found", totals.quotes_not_found}};
}

void print_llm_totals(const eval::LlmCoderTotals& totals) {
  std::cout << fmt::format(
      "\nllm: {} notes ({} without a valid answer, {} with no candidate); {} requests sent, {} answered "
      "from the ledger, {} repairs; {} tokens in, {} out; ${:.4f}; {} codes picked ({} outside the shortlist "
      "dropped, {} quotes not found in the note)\n",
      totals.notes, totals.notes_without_answer, totals.notes_without_shortlist, totals.requests,
      totals.requests_cached, totals.repairs, totals.tokens_in, totals.tokens_out, totals.cost_usd,
      totals.picks, totals.picks_outside_shortlist, totals.quotes_not_found);
}

// --dry-run: what coding the examples would send and cost, estimated; nothing is sent or recorded.
ExitCode print_plan(Context& context, const eval::LlmCoder& coder, const EvalInputs& inputs) {
  std::vector<std::string> texts;
  for (const auto& example : inputs.examples) texts.push_back(example.text);
  llm::ModelPlan plan = coder.plan(texts);
  const double n_notes = std::max<double>(1.0, static_cast<double>(texts.size()));
  nlohmann::json out = {{"coder", coder.name()},
                        {"dataset", inputs.label},
                        {"notes", texts.size()},
                        {"requests", plan.requests},
                        {"requests_cached", plan.requests_cached},
                        {"input_tokens", plan.input_tokens},
                        {"output_tokens", plan.output_tokens},
                        {"projected_cost_usd", plan.projected_cost_usd},
                        {"max_cost_usd", plan.max_cost_usd},
                        {"projected_cost_per_note_usd", plan.projected_cost_usd / n_notes},
                        {"minutes_at_limits", plan.minutes_at_limits},
                        {"prices_as_of", coder.model().pricing.as_of}};
  if (context.json()) {
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return ExitCode::ok;
  }
  std::cout << fmt::format(
      "{} on {} (dry run, nothing sent): {} notes, {} requests ({} already in the ledger); about {} "
      "tokens in and {} out; projected ${:.4f} (${:.5f} a note), at most ${:.4f}; at least {:.1f} minutes "
      "at the rate limits; prices as of {}\n",
      coder.name(), inputs.label, texts.size(), plan.requests, plan.requests_cached, plan.input_tokens,
      plan.output_tokens, plan.projected_cost_usd, plan.projected_cost_usd / n_notes, plan.max_cost_usd,
      plan.minutes_at_limits, coder.model().pricing.as_of);
  return ExitCode::ok;
}

ExitCode run_evaluate(Context& context, const EvaluateCommandOptions& options) {
  check_invocation(options);
  if (options.dry_run) {  // records no run: nothing is sent or scored
    store::Database& db = context.store();
    EvalInputs inputs =
        options.codiesp.empty() ? load_jsonl_inputs(db, options) : load_codiesp_inputs(db, options);
    std::unique_ptr<eval::Coder> coder = coder_under_test(context, options, inputs);
    return print_plan(context, dynamic_cast<const eval::LlmCoder&>(*coder), inputs);
  }
  auto& run = context.start_run("evaluate");
  store::Database& db = context.store();

  EvalInputs inputs =
      options.codiesp.empty() ? load_jsonl_inputs(db, options) : load_codiesp_inputs(db, options);
  std::unique_ptr<eval::Coder> coder = coder_under_test(context, options, inputs);
  const auto* llm_coder = dynamic_cast<const eval::LlmCoder*>(coder.get());

  eval::EvalOptions eval_options;
  eval_options.ks = !options.ks.empty() ? options.ks : options.codiesp.empty() ? k_default_ks : k_codiesp_ks;
  eval_options.in_release = inputs.in_release;
  std::size_t max_k = *std::max_element(eval_options.ks.begin(), eval_options.ks.end());
  // CodiEsp's MAP reads the whole submitted ranking, so a CodiEsp run ranks deeper than its cut-offs.
  std::size_t depth = options.depth > 0 ? options.depth : options.codiesp.empty() ? max_k : k_codiesp_depth;
  std::vector<eval::Prediction> predictions =
      eval::predict_all(*coder, inputs.examples, std::max(depth, max_k), context.progress());
  eval::ChapterLookup chapter_of;
  if (inputs.release) chapter_of = eval::make_chapter_lookup(db, *inputs.release);
  eval::EvalResult result = eval::evaluate(inputs.examples, predictions, eval_options, chapter_of);

  std::optional<eval::CodiespSubmission> submission;
  if (!options.submission.empty())
    submission =
        eval::write_codiesp_submission(options.submission, *inputs.task, inputs.examples, predictions);

  const std::string& source = options.codiesp.empty() ? options.dataset : options.codiesp;
  std::string dataset_path = fs::weakly_canonical(fs::absolute(source)).string();
  nlohmann::json about = nlohmann::json::object();
  if (inputs.task) about["task"] = std::string(1, eval::codiesp_task_letter(*inputs.task));
  if (inputs.release) about["release"] = codes::release_label(*inputs.release);
  std::int64_t id = eval::record_evaluation(db, run.id(), coder->name(), dataset_path, result, about);
  run.counters() = {{"evaluation_id", id},
                    {"coder", coder->name()},
                    {"n_examples", result.n_examples},
                    {"micro_f1", result.micro.f1},
                    {"macro_f1", result.macro.f1},
                    {"map", result.map},
                    {"exact_match", result.exact_match}};
  if (llm_coder) run.counters()["llm"] = llm_totals_json(llm_coder->totals());
  if (context.json()) {
    nlohmann::json out = result.to_json();
    for (const auto& [key, value] : about.items()) out[key] = value;
    out["evaluation_id"] = id;
    out["coder"] = coder->name();
    out["dataset"] = dataset_path;
    if (submission) out["submission"] = submission_json(*submission);
    if (llm_coder) out["llm"] = llm_totals_json(llm_coder->totals());
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    print_result(coder->name(), inputs, result);
    if (submission) print_submission(*submission);
    if (llm_coder) print_llm_totals(llm_coder->totals());
  }
  return ExitCode::ok;
}

}  // namespace

void add_evaluate_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<EvaluateCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "evaluate", "Score a coder on a labelled JSONL dataset or a CodiEsp split and record the metrics");
  command->add_option("--dataset", options->dataset, "JSONL file with `text` and `codes` per line");
  command->add_option("--codiesp", options->codiesp,
                      "A CodiEsp split folder (text_files_en/ and its *D.tsv, *P.tsv labels)");
  command
      ->add_option("--task", options->task,
                   "--codiesp: D (diagnoses, ICD-10-CM) or P (procedures, ICD-10-PCS) (default: D)")
      ->check(CLI::IsMember({"D", "P", "d", "p"}));
  command->add_option("--coder", options->coder,
                      "Any coder by name: bm25, bm25+terms, majority, model:DIR, index, index+rerank:PATH, "
                      "llm:MODEL");
  command
      ->add_option("--baseline", options->baseline,
                   "majority (most frequent training codes) or bm25 (retrieval over tabular text)")
      ->check(CLI::IsMember({"majority", "bm25"}));
  command->add_option("--model", options->model,
                      "A trained model's folder, a LoRA folder or a pretrained Hugging Face folder (builds with "
                      "LibTorch)");
  command->add_option("--base", options->base,
                      "--model: a pretrained base by name (model list) or folder, in place of the one the adapter "
                      "names");
  command->add_option("--train", options->train,
                      "majority: training JSONL or CodiEsp folder (default: "
                      "descriptions-to-codes.golden.train.jsonl beside --dataset, the train folder beside "
                      "--codiesp)");
  command
      ->add_option("--k", options->ks,
                   "Cut-offs of precision@k and recall@k, comma-separated (default: 1,3,5; 1,5,8,15 with "
                   "--codiesp)")
      ->delimiter(',');
  command->add_option("--split", options->split,
                      "--dataset: only lines whose `split` is this (default: every line)");
  command
      ->add_option(
          "--depth", options->depth,
          "Codes ranked per example, which MAP reads (default: 100 with --codiesp, else the largest --k)")
      ->check(CLI::PositiveNumber);
  command->add_option("--limit", options->limit, "Only the first N examples (default: all)")
      ->check(CLI::PositiveNumber);
  command
      ->add_option(
          "--year", options->year,
          "Release year of the codes (ICD-10-CM; ICD-10-PCS for --task P) (default: the newest imported)")
      ->check(CLI::Range(1900, 2999));
  command->add_option("--min-score", options->min_score,
                      "Document coders: assign only codes scoring at least this (default: the coder's own)");
  command->add_option("--top-k", options->top_k, "Document coders: assign at most N codes (0: no limit)")
      ->capture_default_str();
  command->add_option("--submission", options->submission,
                      "--codiesp: write the official scorer's submission files into this folder");
  command->add_option("--beam", options->beam, "--model: beam width (1: greedy); other beams widen P@k")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--unconstrained", options->unconstrained,
                    "--model: let the model emit any tokens, not only the release's valid codes");
  command
      ->add_option("--shortlist", options->shortlist,
                   "llm:MODEL: the index's best candidates shown to the model")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_engine_options(command,
                     {.max_cost_usd = &options->max_cost_usd,
                      .use_cache = &options->use_cache,
                      .dry_run = &options->dry_run},
                     "llm:MODEL: ");
  add_device_options(command, options->device, options->threads, "--model: ",
                     "CPU threads of --model's LibTorch, and notes a document coder codes at once (0: the "
                     "cores this process may use)");
  commands.push_back({command, [options](Context& context) { return run_evaluate(context, *options); }});
}

}  // namespace medcode::cli
