// The training loop, top to bottom: check the setup, build the model (from scratch or a base with LoRA),
// then step — batch, forward, loss, backward, clip, update — with validation, metrics and checkpoints.
#include "medcode/model/trainer.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numbers>

#include <ATen/autocast_mode.h>

#include "medcode/model/checkpoint.h"
#include "medcode/model/threads.h"
#include "medcode/model/config.h"
#include "medcode/store/runs.h"
#include "medcode/text/token_set.h"
#include "medcode/util/error.h"
#include "training_data.h"
#include "training_state.h"

namespace medcode::model {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// bf16 autocast on CUDA for the forward pass; the backward runs outside it, as PyTorch recommends.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool enabled) : m_enabled(enabled) {
    if (!m_enabled) return;
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  }
  ~Bf16Autocast() {
    if (!m_enabled) return;
    at::autocast::set_enabled(false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool m_enabled;
};

struct Setup {
  text::TokenSetInfo token_set;
  std::vector<text::TokenizedExample> train_examples;
  std::vector<text::TokenizedExample> val_examples;
  Transformer model{nullptr};
  CheckpointInfo base_info;       // lora: the base model's record
  fs::path tokenizer_path;        // copied into the output folder (base)
  bool loss_on_all = false;
};

std::int64_t peak_memory_bytes(const torch::Device& device) {
  (void)device;  // device memory statistics would need the CUDA headers; this is host memory on any device
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

void validate_options(const TrainOptions& options) {
  if (options.stage != "base" && options.stage != "lora")
    fail(ExitCode::usage, "--stage must be base or lora, not '{}'", options.stage);
  if (options.stage == "lora" && !options.base_dir)
    fail(ExitCode::usage, "--stage lora needs --base, the folder of a base model");
  if (options.out_dir.empty()) fail(ExitCode::usage, "no output folder given (--out)");
  if (options.max_steps <= 0) fail(ExitCode::usage, "--max-steps must be positive, not {}", options.max_steps);
  if (options.batch_size <= 0) fail(ExitCode::usage, "--batch-size must be positive");
  if (options.grad_accumulation <= 0) fail(ExitCode::usage, "--grad-accumulation must be positive");
  if (!(options.learning_rate > 0)) fail(ExitCode::usage, "--lr must be positive");
  if (!options.loss_on.empty() && options.loss_on != "all" && options.loss_on != "completion")
    fail(ExitCode::usage, "--loss-on must be all or completion, not '{}'", options.loss_on);
}

std::vector<text::TokenizedExample> training_split(store::Database& db, const text::TokenSetInfo& set,
                                                   const std::string& stage) {
  std::vector<text::TokenizedExample> examples = text::load_token_examples(db, set.id, "train");
  if (stage == "base") {
    // The base model also learns the code set's own descriptions, when tokenize added them.
    std::vector<text::TokenizedExample> corpus = text::load_token_examples(db, set.id, "corpus");
    examples.insert(examples.end(), std::make_move_iterator(corpus.begin()),
                    std::make_move_iterator(corpus.end()));
  }
  return examples;
}

Transformer build_base_model(const TrainOptions& options, const text::TokenSetInfo& set) {
  ModelConfig config = load_model_config(options.model_config);
  if (config.vocab_size == 0) config.vocab_size = set.vocab_size;
  if (config.vocab_size != set.vocab_size) {
    fail(ExitCode::usage, "model config '{}' has vocab_size {} but token set '{}' has a tokenizer of {} pieces",
         options.model_config, config.vocab_size, set.name, set.vocab_size);
  }
  if (config.max_seq_len < set.max_length) {
    fail(ExitCode::usage,
         "model config '{}' has max_seq_len {} but token set '{}' holds examples of up to {} tokens; "
         "re-run tokenize with --max-length {} or raise max_seq_len",
         options.model_config, config.max_seq_len, set.name, set.max_length, config.max_seq_len);
  }
  config.validate();
  torch::manual_seed(options.seed);
  return Transformer(config);
}

Setup prepare(store::Database& db, const TrainOptions& options) {
  validate_options(options);
  Setup setup;
  setup.token_set = text::find_token_set(db, options.token_set);
  if (setup.token_set.prompt_format != "medcode") {
    fail(ExitCode::usage,
         "token set '{}' is in the {} chat format of the pretrained base whose tokenizer is {}; medcode's own "
         "models train on a token set built without --base",
         setup.token_set.name, setup.token_set.prompt_format, setup.token_set.tokenizer_path.string());
  }
  setup.train_examples = training_split(db, setup.token_set, options.stage);
  setup.val_examples = text::load_token_examples(db, setup.token_set.id, "val");
  if (setup.train_examples.empty()) {
    fail(ExitCode::bad_input, "token set '{}' has no training examples; tokenize a dataset with a train split",
         setup.token_set.name);
  }
  std::string loss_on = options.loss_on.empty() ? (options.stage == "base" ? "all" : "completion")
                                                : options.loss_on;
  setup.loss_on_all = loss_on == "all";

  if (options.stage == "base") {
    setup.model = build_base_model(options, setup.token_set);
    setup.tokenizer_path = setup.token_set.tokenizer_path;
    if (!fs::is_regular_file(setup.tokenizer_path)) {
      fail(ExitCode::bad_input, "{}: the token set's tokenizer model is missing; re-run tokenize",
           setup.tokenizer_path.string());
    }
    return setup;
  }
  if (is_lora_dir(*options.base_dir)) {
    fail(ExitCode::usage, "{}: --base must be a base model folder, not a LoRA adapter",
         options.base_dir->string());
  }
  LoadedModel base = load_model(*options.base_dir, false);
  if (base.info.tokenizer_sha256 != setup.token_set.tokenizer_sha256) {
    fail(ExitCode::usage,
         "the base model in {} was trained with another tokenizer than token set '{}' was encoded with; "
         "re-run tokenize with --tokenizer {}",
         options.base_dir->string(), setup.token_set.name, (*options.base_dir / "tokenizer.model").string());
  }
  if (base.model->config().max_seq_len < setup.token_set.max_length) {
    fail(ExitCode::usage, "token set '{}' holds examples of up to {} tokens, longer than the base model's {}",
         setup.token_set.name, setup.token_set.max_length, base.model->config().max_seq_len);
  }
  torch::manual_seed(options.seed);
  apply_lora(base.model, options.lora);  // Error(usage) for a rank larger than a layer
  setup.model = base.model;
  setup.base_info = base.info;
  setup.tokenizer_path = base.tokenizer_path;
  return setup;
}

std::vector<torch::Tensor> trainable_parameters(Transformer& model) {
  std::vector<torch::Tensor> parameters;
  for (auto& parameter : model->parameters()) {
    if (parameter.requires_grad()) parameters.push_back(parameter);
  }
  return parameters;
}

// Weight decay applies to matrices only; norms' gains are left alone, as in most LLM recipes.
torch::optim::AdamW make_optimizer(const std::vector<torch::Tensor>& parameters, const TrainOptions& options) {
  std::vector<torch::Tensor> decayed, plain;
  for (const auto& parameter : parameters) (parameter.dim() >= 2 ? decayed : plain).push_back(parameter);
  auto group_options = [&](double weight_decay) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(options.learning_rate)
                                                            .betas({options.beta1, options.beta2})
                                                            .eps(1e-8)
                                                            .weight_decay(weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, group_options(options.weight_decay));
  groups.emplace_back(plain, group_options(0.0));
  return torch::optim::AdamW(std::move(groups),
                             torch::optim::AdamWOptions(options.learning_rate).betas({options.beta1, options.beta2}));
}

// Linear warm-up to the peak, then a cosine down to min_learning_rate_ratio × peak at max_steps.
double learning_rate_at(const TrainOptions& options, std::int64_t step) {
  double peak = options.learning_rate;
  if (step < options.warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(options.warmup_steps);
  double span = static_cast<double>(std::max<std::int64_t>(1, options.max_steps - options.warmup_steps));
  double progress = std::min(1.0, static_cast<double>(step - options.warmup_steps) / span);
  double floor = peak * options.min_learning_rate_ratio;
  return floor + 0.5 * (peak - floor) * (1.0 + std::cos(std::numbers::pi * progress));
}

void set_learning_rate(torch::optim::AdamW& optimizer, double learning_rate) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(learning_rate);
}

// Mean cross-entropy over the counted target tokens; the sum and count come back for token-weighted means.
std::pair<torch::Tensor, std::int64_t> batch_loss(Transformer& model, const Batch& batch) {
  torch::Tensor logits = model->forward(batch.inputs);  // (B, T, V)
  torch::Tensor loss = torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), batch.targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(k_ignore_index).reduction(torch::kSum));
  return {loss, batch.n_targets};
}

std::optional<double> validation_loss(Transformer& model, const BatchSource& val, const torch::Device& device) {
  if (val.size() == 0) return std::nullopt;
  torch::NoGradGuard no_grad;
  model->eval();
  double total = 0;
  std::int64_t counted = 0;
  for (std::int64_t index = 0; index < val.batches_per_epoch(); ++index) {
    Batch batch = val.sequential_batch(index).to(device);
    auto [loss, n] = batch_loss(model, batch);
    total += loss.item<double>();
    counted += n;
  }
  model->train();
  if (counted == 0) return std::nullopt;
  return total / static_cast<double>(counted);
}

class MetricsWriter {
 public:
  MetricsWriter(store::Database& db, std::int64_t run_id, std::string stage)
      : m_db(db), m_run_id(run_id), m_stage(std::move(stage)) {}
  void write(std::int64_t step, const std::vector<std::pair<std::string, double>>& values) {
    if (m_run_id == 0) return;
    store::Transaction transaction(m_db);
    nlohmann::json labels = {{"step", step}, {"stage", m_stage}};
    for (const auto& [name, value] : values) store::record_metric(m_db, m_run_id, name, value, labels);
    transaction.commit();
  }

 private:
  store::Database& m_db;
  std::int64_t m_run_id;
  std::string m_stage;
};

CheckpointInfo checkpoint_info(const Setup& setup, const TrainOptions& options, std::int64_t step) {
  CheckpointInfo info;
  info.stage = options.stage;
  info.tokenizer_sha256 = setup.token_set.tokenizer_sha256;
  info.token_set = setup.token_set.name;
  info.step = step;
  if (options.stage == "lora") info.base_dir = fs::absolute(*options.base_dir);
  info.extra = {{"max_steps", options.max_steps},         {"batch_size", options.batch_size},
                {"grad_accumulation", options.grad_accumulation}, {"learning_rate", options.learning_rate},
                {"seed", options.seed},                   {"loss_on", setup.loss_on_all ? "all" : "completion"}};
  if (options.stage == "lora") {
    info.extra["lora_rank"] = options.lora.rank;
    info.extra["lora_targets"] = options.lora.target_modules;
  }
  return info;
}

void save_weights(const fs::path& dir, const Setup& setup, const TrainOptions& options, std::int64_t step) {
  CheckpointInfo info = checkpoint_info(setup, options, step);
  if (options.stage == "base") {
    save_model(dir, setup.model, info, setup.tokenizer_path);
  } else {
    save_lora_adapter(dir, setup.model, options.lora, info);
  }
}

// A resumed run must see the batches and the objective of the run it continues; --max-steps may change (the
// schedule then follows the new length).
void require_same_settings(const fs::path& checkpoint, const CheckpointInfo& current) {
  std::ifstream in(checkpoint / "medcode.json");
  nlohmann::json saved = nlohmann::json::parse(in, nullptr, false);
  if (saved.is_discarded() || !saved.contains("extra")) return;
  for (const char* key : {"batch_size", "grad_accumulation", "seed", "loss_on", "lora_rank", "lora_targets"}) {
    const nlohmann::json& before = saved["extra"].contains(key) ? saved["extra"][key] : nlohmann::json();
    const nlohmann::json& now = current.extra.contains(key) ? current.extra[key] : nlohmann::json();
    if (before != now) {
      fail(ExitCode::usage, "--resume: the checkpoint in {} was trained with {} {}, this run asks for {}",
           checkpoint.string(), key, before.dump(), now.dump());
    }
  }
}

}  // namespace

std::string resolve_device(const std::string& requested) {
  if (requested == "auto") {
    if (torch::cuda::is_available()) return "cuda";
    if (at::hasMPS()) return "mps";
    return "cpu";
  }
  if (requested == "cpu") return "cpu";
  if (requested == "cuda") {
    if (!torch::cuda::is_available())
      fail(ExitCode::usage, "--device cuda: no CUDA device (this LibTorch build is CPU-only or no GPU is visible)");
    return "cuda";
  }
  if (requested == "mps") {
    if (!at::hasMPS()) fail(ExitCode::usage, "--device mps: Metal is not available in this LibTorch build");
    return "mps";
  }
  fail(ExitCode::usage, "--device must be auto, cpu, cuda or mps, not '{}'", requested);
}

TrainSummary train(store::Database& db, std::int64_t run_id, const TrainOptions& options,
                   const TrainProgressCallback& progress) {
  // 1. Check everything before the first step.
  Setup setup = prepare(db, options);
  std::string device_name = resolve_device(options.device);
  torch::Device device(device_name);
  configure_threads(options.threads);
  const bool bf16 = device.is_cuda();

  BatchSource train_data(setup.train_examples, options.batch_size, options.seed, setup.loss_on_all);
  BatchSource val_data(setup.val_examples, options.batch_size, options.seed, setup.loss_on_all);

  // 2. Parameters and optimizer; resume restores weights, optimizer, RNG and data position.
  setup.model->to(device);
  setup.model->train();
  std::vector<torch::Tensor> parameters = trainable_parameters(setup.model);
  torch::optim::AdamW optimizer = make_optimizer(parameters, options);
  fs::path checkpoints_dir = options.out_dir / "checkpoints";
  std::int64_t start_step = 0;
  if (options.resume) {
    if (auto latest = latest_checkpoint(checkpoints_dir)) {
      require_same_settings(*latest, checkpoint_info(setup, options, 0));
      start_step = restore_training_state(*latest, setup.model, optimizer, options.stage == "lora");
      spdlog::info("resuming from {} (step {})", latest->string(), start_step);
    } else {
      spdlog::info("no checkpoint under {}: starting from step 0", checkpoints_dir.string());
    }
  }
  if (start_step > options.max_steps) {
    fail(ExitCode::usage, "the checkpoint in {} is at step {}, beyond --max-steps {}", checkpoints_dir.string(),
         start_step, options.max_steps);
  }

  TrainSummary summary;
  summary.out_dir = options.out_dir;
  summary.device = device_name;
  summary.resumed_from_step = start_step;
  summary.train_examples = static_cast<std::int64_t>(setup.train_examples.size());
  summary.val_examples = static_cast<std::int64_t>(setup.val_examples.size());
  for (const auto& parameter : setup.model->parameters()) {
    summary.parameters += parameter.numel();
    if (parameter.requires_grad()) summary.trainable_parameters += parameter.numel();
  }
  spdlog::info("training {} on {}: {} parameters ({} trainable), {} train / {} val examples", options.stage,
               device_name, summary.parameters, summary.trainable_parameters, summary.train_examples,
               summary.val_examples);

  // 3. The loop.
  MetricsWriter metrics(db, run_id, options.stage);
  const auto started = Clock::now();
  auto window_start = started;
  std::int64_t window_tokens = 0;
  double window_loss = 0;
  std::int64_t window_steps = 0;
  double last_loss = 0;
  for (std::int64_t step = start_step; step < options.max_steps; ++step) {
    const auto step_started = Clock::now();
    double learning_rate = learning_rate_at(options, step);
    set_learning_rate(optimizer, learning_rate);
    optimizer.zero_grad();
    double step_loss_sum = 0;
    std::int64_t step_targets = 0;
    std::vector<Batch> micro_batches;
    for (std::int64_t micro = 0; micro < options.grad_accumulation; ++micro) {
      micro_batches.push_back(train_data.batch(step * options.grad_accumulation + micro).to(device));
      step_targets += micro_batches.back().n_targets;
    }
    for (const Batch& batch : micro_batches) {
      torch::Tensor loss_sum;
      {
        Bf16Autocast autocast(bf16);
        loss_sum = batch_loss(setup.model, batch).first;
      }
      // Normalised by the step's counted tokens, so accumulation equals one big batch.
      (loss_sum / static_cast<double>(std::max<std::int64_t>(1, step_targets))).backward();
      step_loss_sum += loss_sum.item<double>();
      window_tokens += batch.n_tokens;
      summary.tokens += batch.n_tokens;
    }
    if (options.grad_clip > 0) torch::nn::utils::clip_grad_norm_(parameters, options.grad_clip);
    optimizer.step();
    last_loss = step_loss_sum / static_cast<double>(std::max<std::int64_t>(1, step_targets));
    summary.step_seconds += std::chrono::duration<double>(Clock::now() - step_started).count();
    window_loss += last_loss;
    ++window_steps;

    const std::int64_t done = step + 1;
    const bool last = done == options.max_steps;
    std::optional<double> val_loss;
    if (last || (options.eval_every > 0 && done % options.eval_every == 0)) {
      val_loss = validation_loss(setup.model, val_data, device);
      if (val_loss && (!summary.best_val_loss || *val_loss < *summary.best_val_loss)) summary.best_val_loss = val_loss;
    }
    if (last || done % std::max<std::int64_t>(1, options.log_every) == 0 || val_loss) {
      double seconds = std::chrono::duration<double>(Clock::now() - window_start).count();
      double tokens_per_second = seconds > 0 ? static_cast<double>(window_tokens) / seconds : 0;
      std::vector<std::pair<std::string, double>> values = {
          {"train.loss", window_loss / static_cast<double>(window_steps)},
          {"train.learning_rate", learning_rate},
          {"train.tokens_per_second", tokens_per_second},
          {"train.memory_bytes", static_cast<double>(peak_memory_bytes(device))}};
      if (val_loss) values.emplace_back("train.val_loss", *val_loss);
      metrics.write(done, values);
      if (progress) progress({done, options.max_steps, window_loss / static_cast<double>(window_steps), learning_rate,
                              tokens_per_second, val_loss});
      window_start = Clock::now();
      window_tokens = 0;
      window_loss = 0;
      window_steps = 0;
    }
    if (val_loss) summary.final_val_loss = val_loss;
    if (!last && options.checkpoint_every > 0 && done % options.checkpoint_every == 0) {
      save_checkpoint(checkpoints_dir, done, options.keep_checkpoints, [&](const fs::path& dir) {
        save_weights(dir, setup, options, done);
        save_training_state(dir, done, optimizer);
      });
    }
  }

  // 4. The final model (or adapter), plus a last checkpoint so that a longer --max-steps can resume.
  save_checkpoint(checkpoints_dir, options.max_steps, options.keep_checkpoints, [&](const fs::path& dir) {
    save_weights(dir, setup, options, options.max_steps);
    save_training_state(dir, options.max_steps, optimizer);
  });
  setup.model->to(torch::kCPU);
  save_weights(options.out_dir, setup, options, options.max_steps);

  summary.steps = options.max_steps;
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  summary.tokens_per_second =
      summary.step_seconds > 0 ? static_cast<double>(summary.tokens) / summary.step_seconds : 0;
  summary.final_train_loss = last_loss;
  summary.peak_memory_bytes = peak_memory_bytes(device);
  return summary;
}

}  // namespace medcode::model
