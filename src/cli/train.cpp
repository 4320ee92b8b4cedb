// `medcode train`: trains the transformer from scratch (--stage base), LoRA adapters on a base model (--stage
// lora; medcode's own or a pretrained Hugging Face folder) on a token set, or adapters by DPO on preference
// pairs (--stage dpo), with metrics in the store and checkpoints that --resume continues from.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "context.h"
#include "option_groups.h"
#include "medcode/model/base_models.h"
#include "medcode/model/stack.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

struct TrainCommandOptions {
  model::TrainOptions train;
  std::string base;
  std::string adapter;
  std::string lora_targets = "q_proj,v_proj";
};

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

void print_summary(const model::TrainSummary& summary) {
  std::cout << fmt::format("{} on {}: {} steps ({} new), {} parameters ({} trainable)\n", summary.out_dir.string(),
                           summary.device, summary.steps, summary.steps - summary.resumed_from_step,
                           summary.parameters, summary.trainable_parameters);
  std::cout << fmt::format("train loss {:.4f}", summary.final_train_loss);
  if (summary.final_val_loss) std::cout << fmt::format(", val loss {:.4f}", *summary.final_val_loss);
  if (summary.best_val_loss) std::cout << fmt::format(" (best {:.4f})", *summary.best_val_loss);
  if (summary.reward_accuracy) std::cout << fmt::format(", reward accuracy {:.3f}", *summary.reward_accuracy);
  if (summary.val_reward_accuracy)
    std::cout << fmt::format(" (val {:.3f})", *summary.val_reward_accuracy);
  std::cout << fmt::format("; {:.0f} tokens/s, peak memory {:.0f} MiB, {:.1f} s\n", summary.tokens_per_second,
                           static_cast<double>(summary.peak_memory_bytes) / (1024.0 * 1024.0), summary.seconds);
}

ExitCode run_train(Context& context, TrainCommandOptions& options) {
  model::ModelStack& stack = model::model_stack();  // first: without the plugin nothing else matters
  model::TrainOptions& train = options.train;
  if (train.stage == "base" && !options.base.empty()) fail(ExitCode::usage, "--base is for --stage lora or dpo");
  if (!options.base.empty()) train.base_dir = model::resolve_base(context.store(), options.base);
  if (!options.adapter.empty()) train.adapter = options.adapter;
  train.lora.target_modules = split_list(options.lora_targets);
  store::RunRecorder& run = context.start_run("train");
  const bool quiet = context.options().quiet;
  model::TrainSummary summary =
      stack.train(context.store(), run.id(), train, [quiet](const model::TrainProgress& progress) {
        if (quiet) return;
        std::string line = fmt::format("step {}/{}  loss {:.4f}  lr {:.2e}  {:.0f} tokens/s", progress.step,
                                       progress.max_steps, progress.loss, progress.learning_rate,
                                       progress.tokens_per_second);
        if (progress.val_loss) line += fmt::format("  val loss {:.4f}", *progress.val_loss);
        spdlog::info("{}", line);
      });
  nlohmann::json json = model::to_json(summary);
  for (const char* key : {"steps", "resumed_from_step", "tokens", "final_train_loss", "final_val_loss"})
    run.counters()[key] = json[key];
  if (context.json()) {
    std::cout << json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    print_summary(summary);
  }
  return ExitCode::ok;
}

}  // namespace

void add_train_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<TrainCommandOptions>();
  model::TrainOptions& train = options->train;
  CLI::App* command = app.add_subcommand(
      "train",
      "Train the transformer from scratch (--stage base), LoRA adapters on a base (--stage lora) or by DPO "
      "(--stage dpo)");
  command->add_option("--stage", train.stage,
                      "base: every weight from scratch; lora: adapters on --base; dpo: adapters on --base from "
                      "preference pairs (--data)")
      ->check(CLI::IsMember({"base", "lora", "dpo"}))
      ->capture_default_str();
  command->add_option("--token-set", train.token_set, "The token set `medcode tokenize` wrote")
      ->envname("MEDCODE_TOKEN_SET")
      ->capture_default_str();
  command->add_option("--out", train.out_dir, "Folder of the trained model or adapter (checkpoints/ inside)")
      ->required();
  command->add_option("--config", train.model_config, "Model sizes: tiny, small or a YAML file (base stage)")
      ->capture_default_str();
  command->add_option("--base", options->base,
                      "The base (lora, dpo): a model folder, a Hugging Face folder, or a base's name from `model import`");
  command->add_option("--adapter", options->adapter, "A LoRA folder on the same base to start from (lora, dpo)");
  command->add_option("--base-dtype", train.base_dtype, "The frozen pretrained base's weights: auto (bf16 on CUDA, "
                      "f32 on CPU), f32 or bf16")
      ->check(CLI::IsMember({"auto", "f32", "bf16"}))
      ->capture_default_str();
  command->add_flag("--grad-checkpoint", train.grad_checkpoint,
                    "Recompute each block in backward instead of keeping its activations (less memory, ~1/3 slower)");
  command->add_option("--data", train.dpo_data, "dpo: the preference pairs (the dpo.jsonl of `medcode export`)");
  command->add_option("--beta", train.dpo_beta, "dpo: the temperature β of the DPO loss")->capture_default_str();
  command->add_option("--max-length", train.max_length, "dpo: longest prompt and answer in tokens")
      ->capture_default_str();
  command->add_option("--prompt-format", train.prompt_format,
                      "dpo: the base's chat format (auto: its template; plain, chatml, qwen3, llama3, deepseek-r1)")
      ->capture_default_str();
  command->add_option("--lora-rank", train.lora.rank, "LoRA rank r")->capture_default_str();
  command->add_option("--lora-alpha", train.lora.alpha, "LoRA alpha (scaling alpha / r)")->capture_default_str();
  command->add_option("--lora-dropout", train.lora.dropout, "Dropout on the adapters' input")->capture_default_str();
  command->add_option("--lora-targets", options->lora_targets,
                      "Comma-separated layers to adapt: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj")
      ->capture_default_str();
  command->add_option("--max-steps", train.max_steps, "Optimizer steps")->capture_default_str();
  command->add_option("--batch-size", train.batch_size, "Sequences per micro-batch")->capture_default_str();
  command->add_option("--grad-accumulation", train.grad_accumulation, "Micro-batches per optimizer step")
      ->capture_default_str();
  command->add_option("--lr", train.learning_rate, "Peak learning rate (AdamW)")->capture_default_str();
  command->add_option("--min-lr-ratio", train.min_learning_rate_ratio, "The cosine ends at this fraction of --lr")
      ->capture_default_str();
  command->add_option("--warmup-steps", train.warmup_steps, "Linear warm-up steps")->capture_default_str();
  command->add_option("--weight-decay", train.weight_decay, "AdamW weight decay (matrices only)")
      ->capture_default_str();
  command->add_option("--grad-clip", train.grad_clip, "Max global gradient norm (0: off)")->capture_default_str();
  command->add_option("--eval-every", train.eval_every, "Validation loss every N steps (0: only at the end)")
      ->capture_default_str();
  command->add_option("--checkpoint-every", train.checkpoint_every, "Checkpoint every N steps (0: only at the end)")
      ->capture_default_str();
  command->add_option("--log-every", train.log_every, "Metrics and a progress line every N steps")
      ->capture_default_str();
  command->add_option("--keep-checkpoints", train.keep_checkpoints, "Newest checkpoints kept")->capture_default_str();
  command->add_flag("--resume", train.resume, "Continue from the newest checkpoint in --out");
  command->add_option("--loss-on", train.loss_on, "Tokens that count: all or completion (default: base all, lora completion)")
      ->check(CLI::IsMember({"all", "completion"}));
  command->add_option("--seed", train.seed, "Seed of the initialisation, data order and dropout")->capture_default_str();
  add_device_options(command, train.device, train.threads);
  commands.push_back({command, [options](Context& context) { return run_train(context, *options); }});
}

}  // namespace medcode::cli
