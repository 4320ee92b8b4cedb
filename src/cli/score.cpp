// `medcode score`: re-code generated entries blind, score the round trip, and check the dataset's quality.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

#include "context.h"
#ifdef MEDCODE_HAVE_MODEL
#include "medcode/model/predictor.h"
#endif
#include "medcode/dataset/score.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

// model:<dir> coders: a trained model decoding greedily over the release's valid codes.
dataset::CoderFactory model_coder_factory() {
#ifdef MEDCODE_HAVE_MODEL
  return [](store::Database& db, const codes::ReleaseInfo& release,
            const std::string& name) -> std::unique_ptr<dataset::Coder> {
    model::PredictOptions predict;
    predict.model_dir = name.substr(std::string_view("model:").size());
    predict.system = release.system;
    predict.year = release.year;
    return std::make_unique<model::ModelCoder>(db, predict);
  };
#else
  return {};
#endif
}

struct ScoreCommandOptions {
  std::vector<std::string> coders = {"bm25"};
  std::size_t top_k = 10;
  std::string task;
  bool rescore = false;
  bool strict = false;
  std::uint64_t seed = 42;
  bool check_only = false;
  double max_cost = -1;
  bool no_cache = false;
};

nlohmann::json quality_json(const dataset::QualityReport& quality) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& finding : quality.findings) {
    findings.push_back({{"check", finding.check},
                        {"severity", finding.severity},
                        {"count", finding.count},
                        {"examples", finding.examples}});
  }
  const auto& labels = quality.labels;
  return {{"findings", findings},
          {"labels",
           {{"codes", labels.codes},
            {"entries", labels.entries},
            {"min_per_code", labels.min_per_code},
            {"median_per_code", labels.median_per_code},
            {"max_per_code", labels.max_per_code},
            {"codes_with_one_entry", labels.codes_with_one_entry},
            {"top_10_percent_share", labels.top_10_percent_share}}}};
}

nlohmann::json summary_json(const dataset::ScoreSummary& summary) {
  nlohmann::json coders = nlohmann::json::array();
  for (const auto& coder : summary.coders) {
    coders.push_back({{"coder", coder.coder},
                      {"scored", coder.scored},
                      {"already_scored", coder.already},
                      {"mean_score", coder.mean_score},
                      {"exact", coder.exact},
                      {"ranked", coder.ranked},
                      {"partial", coder.partial},
                      {"none", coder.none},
                      {"histogram", coder.histogram}});
    if (coder.coder.rfind("llm:", 0) == 0) {
      auto& llm = coders.back();
      llm["left"] = coder.left;
      llm["requests"] = coder.requests;
      llm["requests_failed"] = coder.requests_failed;
      llm["items_failed"] = coder.items_failed;
      llm["invalid_codes"] = coder.invalid_codes;
      llm["cost_usd"] = coder.cost_usd;
      llm["budget_exhausted"] = coder.budget_exhausted;
      if (coder.fatal_error) llm["fatal_error"] = *coder.fatal_error;
    }
  }
  return {{"entries", summary.entries},
          {"coders", coders},
          {"quality", quality_json(summary.quality)},
          {"seconds", summary.seconds}};
}

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

// The exit code of a finished run, as for `generate`: provider failures (4) before the budget (6).
int outcome(const dataset::ScoreSummary& summary) {
  int code = 0;
  bool budget_exhausted = false;
  for (const auto& coder : summary.coders) {
    if (coder.fatal_error) {
      spdlog::error("{}: {}; it stopped (fix the configuration or key and run the same command again)",
                    coder.coder, *coder.fatal_error);
      code = static_cast<int>(ExitCode::network);
    } else if (coder.requests_failed > 0) {
      spdlog::error(
          "{}: {} requests failed after every retry; last error: {}. Run the same command again to "
          "score what is left",
          coder.coder, coder.requests_failed, coder.last_error.value_or("?"));
      code = static_cast<int>(ExitCode::network);
    } else if (coder.items_failed > 0) {
      spdlog::warn("{}: {} entries got no valid answer (last error: {}); they are sent again on the next run",
                   coder.coder, coder.items_failed, coder.last_error.value_or("?"));
    }
    budget_exhausted = budget_exhausted || coder.budget_exhausted;
  }
  if (code == 0 && budget_exhausted) {
    double spent = 0;
    std::int64_t left = 0;
    for (const auto& coder : summary.coders) {
      spent += coder.cost_usd;
      left += coder.left;
    }
    spdlog::error(
        "stopped at the --max-cost cap: ${:.4f} spent, {} entries left; run again with a higher cap to "
        "finish",
        spent, left);
    code = static_cast<int>(ExitCode::policy);
  }
  return code;
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
  command
      ->add_option("--max-cost", options->max_cost,
                   "llm:<model> coders: spending cap in USD for this run; requests in flight count at their "
                   "maximum cost")
      ->envname("MEDCODE_MAX_COST");
  command->add_flag("--no-cache", options->no_cache,
                    "llm:<model> coders: send fresh requests even when the ledger has the answer");
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
                          dataset::ScoreOptions score;
                          score.coders = options->coders;
                          score.top_k = options->top_k;
                          score.task = task;
                          score.rescore = options->rescore;
                          score.seed = options->seed;
                          score.run_id = run.id();
                          score.progress = context.progress();
                          score.model_coders = model_coder_factory();
                          // Read only for model coders, so a broken model config cannot stop bm25.
                          bool any_llm =
                              std::any_of(options->coders.begin(), options->coders.end(),
                                          [](const auto& coder) { return coder.rfind("llm:", 0) == 0; });
                          if (any_llm) {
                            registry = context.model_registry();
                            score.registry = &*registry;
                          }
                          if (options->max_cost >= 0) score.max_cost_usd = options->max_cost;
                          score.use_cache = !options->no_cache;
                          summary = dataset::score_entries(context.store(), score);
                        }
                        nlohmann::json out = summary_json(summary);
                        run.counters() = out;
                        if (context.json()) {
                          std::cout << out.dump(2) << "\n";
                        } else {
                          print_summary(summary);
                        }
                        int code = outcome(summary);
                        if (code == 0 && options->strict && summary.quality.has_errors()) {
                          spdlog::error("quality checks found errors (--strict); see the findings above");
                          return static_cast<int>(ExitCode::bad_input);
                        }
                        return code;
                      }});
}

}  // namespace medcode::cli
