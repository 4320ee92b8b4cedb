// `medcode score`: re-code generated entries blind, score the round trip, and check the dataset's quality.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

#include "context.h"
#include "option_groups.h"
#include "medcode/dataset/score.h"
#include "medcode/llm/engine_outcome.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

struct ScoreCommandOptions {
  std::vector<std::string> coders = {"bm25"};
  std::size_t top_k = 10;
  std::string task;
  bool rescore = false;
  bool strict = false;
  std::uint64_t seed = 42;
  bool check_only = false;
  dataset::ScoreOptions score;  // the engine options are bound straight into it
};

void print_quality(const dataset::QualityReport& quality) {
  const auto& labels = quality.labels;
  std::cout << fmt::format(
      "labels: {} entries over {} codes; per code min {}, median {:g}, max {}; {} codes with one entry; the "
      "top "
      "10% of codes hold {:.0f}% of entries\n",
      labels.entries, labels.codes, labels.min_per_code, labels.median_per_code, labels.max_per_code,
      labels.codes_with_one_entry, 100 * labels.top_10_percent_share);
  if (quality.findings.empty()) {
    std::cout << "quality: no problems found\n";
    return;
  }
  for (const auto& finding : quality.findings) {
    std::cout << fmt::format("quality {:<7} {:<18} {:>7} entries (e.g. {})\n", finding.severity,
                             finding.check, finding.count, fmt::join(finding.examples, ", "));
  }
}

void print_summary(const dataset::ScoreSummary& summary) {
  for (const auto& coder : summary.coders) {
    std::cout << fmt::format(
        "{}: {} entries scored now, {} before; mean score {:.3f}; exact {}, ranked {}, partial {}, none {}\n",
        coder.coder, coder.scored, coder.already, coder.mean_score, coder.exact, coder.ranked, coder.partial,
        coder.none);
    std::cout << "  score histogram (0.0-0.1 ... 0.9-1.0): "
              << fmt::format("{}", fmt::join(coder.histogram, " ")) << "\n";
    if (coder.coder.rfind("llm:", 0) == 0) {
      std::cout << fmt::format("  {} left unscored; {} requests; {} invalid codes dropped; ${:.4f}\n",
                               coder.left, coder.requests, coder.invalid_codes, coder.cost_usd);
    }
  }
  print_quality(summary.quality);
  std::cout << fmt::format("{} entries in {:.2f} s\n", summary.entries, summary.seconds);
}

// The exit code of a finished run, by the rule `generate` follows (llm/engine_outcome.h): each llm: coder
// is one engine model.
ExitCode outcome(const dataset::ScoreSummary& summary) {
  llm::EngineResult engine;
  for (const auto& coder : summary.coders) {
    if (coder.coder.rfind("llm:", 0) != 0) continue;
    llm::ModelProgress model;
    model.model = coder.coder;
    model.items_failed = coder.items_failed;
    model.requests_failed = coder.requests_failed;
    model.last_error = coder.last_error;
    model.fatal_error = coder.fatal_error;
    engine.models.push_back(model);
    engine.cost_usd += coder.cost_usd;
    engine.items_left += coder.left;
    engine.budget_exhausted = engine.budget_exhausted || coder.budget_exhausted;
  }
  llm::EngineVerdict verdict = llm::judge_engine_result(engine, "entries");
  for (const std::string& warning : verdict.warnings) spdlog::warn("{}", warning);
  for (const std::string& error : verdict.errors) spdlog::error("{}", error);
  return verdict.code;
}

}  // namespace

void add_score_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<ScoreCommandOptions>();
  CLI::App* command =
      app.add_subcommand("score", "Re-code generated entries blind, score them and check quality");
  command
      ->add_option(
          "--coder", options->coders,
          "bm25 (tabular descriptions), bm25+terms (and inclusion terms), llm:<model> (a configured "
          "model, see `medcode generate --list-models`) or model:<dir> (a model from `medcode train`); "
          "repeat for several")
      ->capture_default_str();
  command->add_option("--top-k", options->top_k, "Codes in each coder's answer")->capture_default_str();
  command->add_option("--task", options->task, "Only entries of this task (cms-terms, descriptions, facets)");
  command->add_flag("--rescore", options->rescore, "Score again entries a coder has already scored");
  command->add_flag("--strict", options->strict, "Exit 3 when a quality check finds an error");
  command->add_option("--seed", options->seed, "Seed of the train/val/test split the leakage check uses")
      ->capture_default_str();
  command->add_flag("--check-only", options->check_only, "Only run the quality checks; score nothing");
  add_engine_options(command, {.max_cost_usd = &options->score.max_cost_usd, .use_cache = &options->score.use_cache},
                     "llm:<model> coders: ");
  commands.push_back({command, [options](Context& context) {
                        auto& run = context.start_run("score");
                        std::optional<std::string> task;
                        if (!options->task.empty()) task = options->task;
                        dataset::ScoreSummary summary;
                        std::optional<llm::ModelRegistry> registry;
                        if (options->check_only) {
                          summary.quality = dataset::check_quality(context.store(), task, options->seed);
                          summary.entries = summary.quality.labels.entries;
                        } else {
                          dataset::ScoreOptions score = options->score;
                          score.coders = options->coders;
                          score.top_k = options->top_k;
                          score.task = task;
                          score.rescore = options->rescore;
                          score.seed = options->seed;
                          score.run_id = run.id();
                          score.progress = context.progress();
                          // Read only for model coders, so a broken model config cannot stop bm25.
                          bool any_llm =
                              std::any_of(options->coders.begin(), options->coders.end(),
                                          [](const auto& coder) { return coder.rfind("llm:", 0) == 0; });
                          if (any_llm) {
                            registry = context.model_registry();
                            score.registry = &*registry;
                          }
                          summary = dataset::score_entries(context.store(), score);
                        }
                        nlohmann::json out = dataset::to_json(summary);
                        run.counters() = out;
                        if (context.json()) {
                          std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
                        } else {
                          print_summary(summary);
                        }
                        ExitCode code = outcome(summary);
                        if (code == ExitCode::ok && options->strict && summary.quality.has_errors()) {
                          spdlog::error("quality checks found errors (--strict); see the findings above");
                          return ExitCode::bad_input;
                        }
                        return code;
                      }});
}

}  // namespace medcode::cli
