// `medcode run`: the whole pipeline in one command, safe to start from cron.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <map>

#include "context.h"
#include "option_groups.h"
#include "medcode/pipeline/run.h"

namespace medcode::cli {

namespace {

struct RunCommandOptions {
  pipeline::RunOptions settings;  // the engine and device options are bound straight into it
  std::int64_t target_size = 1000;
  int year = 2023;
  bool skip_fetch = false;
  std::string mirror;
  std::string cache_dir;
  bool offline = false;
  std::string out = "medcode-output";
  std::uint64_t seed = 42;
  double min_quality = 0.7;
  bool train = false;
  std::string train_config = "small";
  std::int64_t base_steps = 300;
  std::int64_t lora_steps = 100;
  std::int64_t batch_size = 16;
  int vocab_size = 2000;
  std::string export_format;
  std::string export_dtype;
};

}  // namespace

void add_run_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<RunCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "run", "The whole pipeline: fetch, import, generate, score, export, report (safe under cron)");
  command->add_option("--target-size", options->target_size, "About this many dataset entries")
      ->envname("MEDCODE_TARGET_SIZE")
      ->capture_default_str();
  add_engine_options(command, {.models = &options->settings.models, .max_cost_usd = &options->settings.max_cost_usd},
                     "generation: ");
  command->add_option("--year", options->year, "ICD-10-CM release year")->capture_default_str();
  command->add_flag("--skip-fetch", options->skip_fetch, "Do not fetch: the release is imported already");
  command->add_option("--mirror", options->mirror, "Folder of CMS files tried before the network")
      ->envname("MEDCODE_MIRROR");
  command
      ->add_option("--cache-dir", options->cache_dir,
                   "Where downloads go (default: medcode-files beside the store)")
      ->envname("MEDCODE_CACHE_DIR");
  command->add_flag("--offline", options->offline, "Never touch the network: mirror and cache only")
      ->envname("MEDCODE_OFFLINE");
  command->add_option("--out", options->out, "Folder for the JSONL files and index.html")
      ->envname("MEDCODE_OUT")
      ->capture_default_str();
  command->add_option("--seed", options->seed, "Seed of the code sample and the splits")
      ->capture_default_str();
  command->add_option("--min-quality", options->min_quality, "Quality of a golden entry")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  command->add_flag("--train", options->train,
                    "Then tokenize, train a base model and LoRA adapters, and evaluate them against the baselines")
      ->envname("MEDCODE_TRAIN");
  command->add_option("--train-config", options->train_config, "--train: model sizes (tiny, small or a YAML file)")
      ->capture_default_str();
  command->add_option("--base-steps", options->base_steps, "--train: optimizer steps of the base model")
      ->capture_default_str();
  command->add_option("--lora-steps", options->lora_steps, "--train: optimizer steps of the LoRA adapters")
      ->capture_default_str();
  command->add_option("--batch-size", options->batch_size, "--train: sequences per batch")->capture_default_str();
  command->add_option("--vocab-size", options->vocab_size, "--train: SentencePiece vocabulary size")
      ->capture_default_str();
  command
      ->add_option("--export", options->export_format,
                   "--train: also write the trained coder beside the report, as GGUF (llama.cpp, LM Studio, "
                   "Ollama) or a Hugging Face folder")
      ->check(CLI::IsMember({"gguf", "hf"}));
  command->add_option("--export-dtype", options->export_dtype,
                      "--export: f32, f16, bf16, q8_0 or q4_k (default f16 for gguf, f32 for hf)");
  add_device_options(command, options->settings.device, options->settings.threads, "--train: ");
  commands.push_back(
      {command, [options](Context& context) {
         llm::ModelRegistry registry = context.model_registry();
         auto& run = context.start_run("run");
         pipeline::RunOptions settings = options->settings;
         settings.target_size = options->target_size;
         settings.year = options->year;
         settings.skip_fetch = options->skip_fetch;
         if (!options->mirror.empty()) settings.mirror = options->mirror;
         settings.offline = options->offline || settings.mirror.has_value();
         settings.cache_dir = context.download_cache_dir(options->cache_dir);
         settings.out_dir = options->out;
         settings.seed = options->seed;
         settings.min_quality = options->min_quality;
         settings.run_id = run.id();
         settings.train = options->train;
         settings.train_config = options->train_config;
         settings.base_steps = options->base_steps;
         settings.lora_steps = options->lora_steps;
         settings.batch_size = options->batch_size;
         settings.vocab_size = options->vocab_size;
         if (!options->export_format.empty() && !options->train)
           fail(ExitCode::usage, "--export writes the model --train makes: add --train");
         settings.export_format = options->export_format;
         settings.export_dtype = options->export_dtype;
         settings.registry = &registry;
         settings.progress = context.progress();
         settings.on_stage = [](const std::string& stage, const std::string& message) {
           spdlog::info("{}: {}", stage, message);
         };
         pipeline::RunSummary summary = pipeline::run_pipeline(context.store(), settings);
         if (summary.stale_lock) {
           spdlog::warn("took over the lock left by a run that did not finish ({})", *summary.stale_lock);
         }
         nlohmann::json out = pipeline::to_json(summary);
         run.counters() = out;
         if (context.json()) {
           std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
         } else if (!context.options().quiet) {
           for (const auto& stage : summary.stages) {
             std::cout << fmt::format("{:<10} {}\n", stage.stage, stage.outcome);
           }
           std::cout << fmt::format(
               "{} entries, {} golden; quality histogram (0.0-0.1 ... 0.9-1.0): "
               "{}\n",
               summary.entries, summary.golden, fmt::join(summary.quality_histogram, " "));
           std::cout << "outputs:\n";
           for (const auto& path : summary.outputs) std::cout << "  " << path.string() << "\n";
           std::cout << (summary.new_work() ? "" : "nothing new: the store already held this dataset\n")
                     << fmt::format("done in {:.1f} s\n", summary.seconds);
         }
         return summary.exit_code;
       }});
}

}  // namespace medcode::cli
