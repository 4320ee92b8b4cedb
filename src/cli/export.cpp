// `medcode export`: write the store's dataset entries and scores as JSON Lines training files, and the
// codes' facets.
#include <fmt/format.h>

#include <iostream>

#include "context.h"
#include "medcode/dataset/export.h"

namespace medcode::cli {

namespace {

struct ExportCommandOptions {
  std::string out = "medcode-export";
  double min_quality = 0.7;
  std::uint64_t seed = 42;
  std::string task;
  std::string coder;
};

nlohmann::json summary_json(const dataset::ExportSummary& summary) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& file : summary.files)
    files.push_back({{"path", file.path.string()}, {"lines", file.lines}});
  return {{"files", files},
          {"entries", summary.entries},
          {"entries_unscored", summary.entries_unscored},
          {"golden", summary.golden},
          {"train", summary.golden_splits.train},
          {"val", summary.golden_splits.val},
          {"test", summary.golden_splits.test},
          {"sft", summary.sft},
          {"dpo_pairs", summary.dpo_pairs},
          {"dpo_skipped", summary.dpo_skipped},
          {"missing_descriptions", summary.missing_descriptions},
          {"facets", summary.facets}};
}

void record_counters(Context& context, const nlohmann::json& summary) {
  store::RunRecorder* run = context.run();
  if (!run) return;
  for (const char* key : {"entries", "entries_unscored", "golden", "train", "val", "test", "sft", "dpo_pairs",
                          "dpo_skipped", "missing_descriptions", "facets"}) {
    run->counters()[key] = summary[key];
  }
}

void print_summary(const Context& context, const dataset::ExportSummary& summary,
                   const nlohmann::json& json) {
  if (context.json()) {
    std::cout << json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  for (const auto& file : summary.files)
    std::cout << fmt::format("{:>9}  {}\n", file.lines, file.path.string());
  std::cout << fmt::format(
      "{} entries ({} unscored); {} golden: {} train, {} val, {} test; {} SFT examples; {} DPO pairs ({} "
      "golden "
      "entries had no wrong code to reject)\n",
      summary.entries, summary.entries_unscored, summary.golden, summary.golden_splits.train,
      summary.golden_splits.val, summary.golden_splits.test, summary.sft, summary.dpo_pairs,
      summary.dpo_skipped);
  if (summary.facets > 0) std::cout << fmt::format("{} codes with facets\n", summary.facets);
}

}  // namespace

void add_export_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<ExportCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "export",
      "Write dataset entries and scores as JSON Lines: pairs, golden splits, SFT, DPO and facets files");
  command->add_option("--out", options->out, "Folder the files are written to")
      ->envname("MEDCODE_EXPORT_DIR")
      ->capture_default_str();
  command
      ->add_option("--min-quality", options->min_quality,
                   "Lowest quality (mean score, 0..1) of a golden entry")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  command->add_option("--seed", options->seed, "Seed of the train/val/test split by code")
      ->capture_default_str();
  command->add_option("--task", options->task, "Only entries of this generation task (default: every task)");
  command->add_option("--coder", options->coder,
                      "Quality from this coder's scores (default: the mean over every coder of an entry)");

  commands.push_back({command, [options](Context& context) {
                        dataset::ExportOptions export_options;
                        export_options.out_dir = options->out;
                        export_options.min_quality = options->min_quality;
                        export_options.seed = options->seed;
                        if (!options->task.empty()) export_options.task = options->task;
                        if (!options->coder.empty()) export_options.coder = options->coder;
                        context.start_run("export");
                        dataset::ExportSummary summary =
                            dataset::export_dataset(context.store(), export_options);
                        nlohmann::json json = summary_json(summary);
                        record_counters(context, json);
                        print_summary(context, summary, json);
                        return ExitCode::ok;
                      }});
}

}  // namespace medcode::cli
