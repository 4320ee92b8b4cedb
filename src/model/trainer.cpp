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
#include "medcode/text/bpe_tokenizer.h"
#include "medcode/text/chat_template.h"
#include "dpo_data.h"
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
  std::vector<text::TokenizedExample> train_examples;  // dpo: the chosen answers
  std::vector<text::TokenizedExample> val_examples;
  PreferencePairs pairs;          // dpo
  Transformer model{nullptr};
  CheckpointInfo base_info;       // lora, dpo: the base model's record
  fs::path tokenizer_path;        // copied into the output folder (base)
  bool loss_on_all = false;
  bool pretrained = false;        // the base is a Hugging Face folder
  std::string prompt_format = "medcode";
  LoraConfig lora;                // the adapters trained (given, or those of --adapter)
  bool from_adapter = false;      // dpo: the reference policy is the adapter it starts from
};

// While one lives, the model is DPO's reference policy: the frozen base with its adapters off or, for a run
// that starts from an adapter (the usual fine-tune, then DPO), that adapter as it was at the start, whose
// weights stand in for the trained ones until it ends. Only under NoGrad, before the policy's own forward.
class ReferencePolicy {
 public:
  ReferencePolicy(Transformer& model, const std::vector<std::pair<torch::Tensor, torch::Tensor>>& reference)
      : m_model(model), m_reference(reference) {
    if (m_reference.empty()) {
      set_lora_enabled(m_model, false);
      return;
    }
    for (const auto& [parameter, weights] : m_reference) {
      m_trained.push_back(parameter.detach().clone());
      parameter.detach().copy_(weights);
    }
  }
  ~ReferencePolicy() {
    if (m_reference.empty()) {
      set_lora_enabled(m_model, true);
      return;
    }
    for (std::size_t i = 0; i < m_reference.size(); ++i) m_reference[i].first.detach().copy_(m_trained[i]);
  }
  ReferencePolicy(const ReferencePolicy&) = delete;
  ReferencePolicy& operator=(const ReferencePolicy&) = delete;

 private:
  Transformer& m_model;
  const std::vector<std::pair<torch::Tensor, torch::Tensor>>& m_reference;
  std::vector<torch::Tensor> m_trained;
};

std::int64_t peak_memory_bytes(const torch::Device& device) {
  (void)device;  // device memory statistics would need the CUDA headers; this is host memory on any device
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

void validate_options(const TrainOptions& options) {
  if (options.stage != "base" && options.stage != "lora" && options.stage != "dpo")
    fail(ExitCode::usage, "--stage must be base, lora or dpo, not '{}'", options.stage);
  if (options.stage != "base" && !options.base_dir)
    fail(ExitCode::usage, "--stage {} needs --base, the folder of a base model", options.stage);
  if (options.stage == "base" && options.adapter) fail(ExitCode::usage, "--adapter is for --stage lora or dpo");
  if (options.stage == "dpo" && options.dpo_data.empty())
    fail(ExitCode::usage, "--stage dpo needs --data, the dpo.jsonl that `medcode export` writes");
  if (options.stage != "dpo" && !options.dpo_data.empty()) fail(ExitCode::usage, "--data is for --stage dpo");
  if (!(options.dpo_beta > 0)) fail(ExitCode::usage, "--beta must be positive, not {}", options.dpo_beta);
  if (options.max_length < 16) fail(ExitCode::usage, "--max-length must be at least 16, not {}", options.max_length);
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

torch::ScalarType frozen_dtype(const TrainOptions& options, const std::string& device) {
  if (options.base_dtype == "f32") return torch::kFloat;
  if (options.base_dtype == "bf16") return torch::kBFloat16;
  if (options.base_dtype == "auto") return device == "cuda" ? torch::kBFloat16 : torch::kFloat;
  fail(ExitCode::usage, "--base-dtype must be auto, f32 or bf16, not '{}'", options.base_dtype);
}

void load_token_set(store::Database& db, const TrainOptions& options, Setup& setup) {
  setup.token_set = text::find_token_set(db, options.token_set);
  setup.train_examples = training_split(db, setup.token_set, options.stage);
  setup.val_examples = text::load_token_examples(db, setup.token_set.id, "val");
  if (setup.train_examples.empty()) {
    fail(ExitCode::bad_input, "token set '{}' has no training examples; tokenize a dataset with a train split",
         setup.token_set.name);
  }
  std::string loss_on = options.loss_on.empty() ? (options.stage == "base" ? "all" : "completion")
                                                : options.loss_on;
  setup.loss_on_all = loss_on == "all";
  setup.prompt_format = setup.token_set.prompt_format;
}

Setup prepare(store::Database& db, const TrainOptions& options, const std::string& device) {
  validate_options(options);
  Setup setup;
  if (options.stage == "base") {
    load_token_set(db, options, setup);
    if (setup.token_set.prompt_format != "medcode") {
      fail(ExitCode::usage,
           "token set '{}' is in the {} chat format of the pretrained base whose tokenizer is {}; medcode's own "
           "models train on a token set built without --base",
           setup.token_set.name, setup.token_set.prompt_format, setup.token_set.tokenizer_path.string());
    }
    setup.model = build_base_model(options, setup.token_set);
    setup.model->gradient_checkpointing = options.grad_checkpoint;
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
  LoadOptions load;
  load.merge = false;
  load.pretrained_dtype = frozen_dtype(options, device);
  LoadedModel base = load_model(*options.base_dir, load);
  setup.pretrained = base.pretrained;
  std::int64_t longest = 0;
  if (options.stage == "dpo") {
    if (!base.pretrained) {
      fail(ExitCode::usage, "--stage dpo trains adapters on a pretrained base (a Hugging Face folder); {} is one "
           "of medcode's own models", options.base_dir->string());
    }
    text::ChatTemplate chat = text::ChatTemplate::from_folder(base.base_dir, options.prompt_format);
    text::BpeTokenizer tokenizer = text::BpeTokenizer::load(base.tokenizer_path);
    setup.pairs = read_preference_pairs(options.dpo_data, tokenizer, chat,
                                        static_cast<std::size_t>(options.max_length));
    setup.train_examples = setup.pairs.train_chosen;
    setup.val_examples = setup.pairs.val_chosen;
    setup.prompt_format = std::string(text::chat_family_name(chat.family()));
    setup.token_set.name = fs::path(options.dpo_data).filename().string();
    setup.token_set.tokenizer_sha256 = base.info.tokenizer_sha256;
    setup.loss_on_all = false;
    for (const auto* examples : {&setup.pairs.train_chosen, &setup.pairs.train_rejected, &setup.pairs.val_chosen,
                                 &setup.pairs.val_rejected}) {
      for (const auto& example : *examples)
        longest = std::max(longest, static_cast<std::int64_t>(example.input_ids.size()));
    }
  } else {
    load_token_set(db, options, setup);
    if (base.pretrained && setup.token_set.prompt_format == "medcode") {
      fail(ExitCode::usage, "token set '{}' was built with medcode's own tokenizer, not the pretrained base {}; "
           "re-run tokenize with --base {}", setup.token_set.name, options.base_dir->string(),
           options.base_dir->string());
    }
    if (!base.pretrained && setup.token_set.prompt_format != "medcode") {
      fail(ExitCode::usage,
           "token set '{}' is in the {} chat format of the pretrained base whose tokenizer is {}; medcode's own "
           "models train on a token set built without --base",
           setup.token_set.name, setup.token_set.prompt_format, setup.token_set.tokenizer_path.string());
    }
    if (base.info.tokenizer_sha256 != setup.token_set.tokenizer_sha256) {
      fail(ExitCode::usage,
           "the base model in {} has another tokenizer than token set '{}' was encoded with; re-run tokenize with "
           "{} {}",
           options.base_dir->string(), setup.token_set.name, base.pretrained ? "--base" : "--tokenizer",
           (base.pretrained ? *options.base_dir : *options.base_dir / "tokenizer.model").string());
    }
    longest = setup.token_set.max_length;
  }
  if (base.model->config().max_seq_len < longest) {
    fail(ExitCode::usage, "examples of up to {} tokens are longer than the base model's {} positions", longest,
         base.model->config().max_seq_len);
  }
  torch::manual_seed(options.seed);
  if (options.adapter) {
    // the adapter's own rank and targets; its weights on the same base
    LoraAdapterFiles adapter = read_lora_adapter(*options.adapter);
    setup.lora = adapter.lora;
    setup.from_adapter = true;
    apply_lora(base.model, setup.lora);
    load_lora_state_dict(base.model, adapter.weights, adapter.weights_path.string());
  } else {
    setup.lora = options.lora;
    apply_lora(base.model, setup.lora);  // Error(usage) for a rank larger than a layer
  }
  base.model->gradient_checkpointing = options.grad_checkpoint;
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
  if (options.stage != "base") info.base_dir = fs::absolute(*options.base_dir);
  info.extra = {{"max_steps", options.max_steps},         {"batch_size", options.batch_size},
                {"grad_accumulation", options.grad_accumulation}, {"learning_rate", options.learning_rate},
                {"seed", options.seed},                   {"loss_on", setup.loss_on_all ? "all" : "completion"}};
  if (options.stage != "base") {
    info.extra["lora_rank"] = setup.lora.rank;
    info.extra["lora_targets"] = setup.lora.target_modules;
  }
  if (setup.pretrained) info.extra["prompt_format"] = setup.prompt_format;
  if (options.stage == "dpo") {
    info.extra["dpo_beta"] = options.dpo_beta;
    info.extra["max_length"] = options.max_length;
  }
  return info;
}

void save_weights(const fs::path& dir, const Setup& setup, const TrainOptions& options, std::int64_t step) {
  CheckpointInfo info = checkpoint_info(setup, options, step);
  if (options.stage == "base") {
    save_model(dir, setup.model, info, setup.tokenizer_path);
  } else {
    save_lora_adapter(dir, setup.model, setup.lora, info);
  }
}

// A resumed run must see the batches and the objective of the run it continues; --max-steps may change (the
// schedule then follows the new length).
void require_same_settings(const fs::path& checkpoint, const CheckpointInfo& current) {
  std::ifstream in(checkpoint / "medcode.json");
  nlohmann::json saved = nlohmann::json::parse(in, nullptr, false);
  if (saved.is_discarded() || !saved.contains("extra")) return;
  for (const char* key :
       {"batch_size", "grad_accumulation", "seed", "loss_on", "lora_rank", "lora_targets", "dpo_beta", "max_length"}) {
    const nlohmann::json& before = saved["extra"].contains(key) ? saved["extra"][key] : nlohmann::json();
    const nlohmann::json& now = current.extra.contains(key) ? current.extra[key] : nlohmann::json();
    if (before != now) {
      fail(ExitCode::usage, "--resume: the checkpoint in {} was trained with {} {}, this run asks for {}",
           checkpoint.string(), key, before.dump(), now.dump());
    }
  }
}

// DPO (Rafailov et al., 2023) on the sums of the answers' token log-probabilities: the policy is the model with
// its adapters, the reference the same model with them off, so no second copy of the base is held.
struct DpoStats {
  double loss_sum = 0;
  double chosen_reward_sum = 0;    // β (log π(chosen) − log π_ref(chosen))
  double rejected_reward_sum = 0;
  double correct = 0;              // pairs whose chosen reward is the larger
  std::int64_t pairs = 0;
  DpoStats& operator+=(const DpoStats& other) {
    loss_sum += other.loss_sum;
    chosen_reward_sum += other.chosen_reward_sum;
    rejected_reward_sum += other.rejected_reward_sum;
    correct += other.correct;
    pairs += other.pairs;
    return *this;
  }
  double accuracy() const { return pairs ? correct / static_cast<double>(pairs) : 0; }
  void append_to(std::vector<std::pair<std::string, double>>& values, const std::string& prefix) const {
    if (pairs == 0) return;
    const double n = static_cast<double>(pairs);
    values.emplace_back(prefix + "loss", loss_sum / n);
    values.emplace_back(prefix + "rewards_chosen", chosen_reward_sum / n);
    values.emplace_back(prefix + "rewards_rejected", rejected_reward_sum / n);
    values.emplace_back(prefix + "reward_margin", (chosen_reward_sum - rejected_reward_sum) / n);
    values.emplace_back(prefix + "reward_accuracy", accuracy());
  }
};

// Per row, the sum of the log-probabilities of the tokens that count (the answer's): (B).
torch::Tensor answer_log_probabilities(Transformer& model, const Batch& batch) {
  torch::Tensor logits = model->forward(batch.inputs);  // (B, T, V)
  const auto B = logits.size(0);
  const auto T = logits.size(1);
  torch::Tensor per_token = torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), batch.targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(k_ignore_index).reduction(torch::kNone));
  return -per_token.view({B, T}).sum(1);  // ignored targets give 0
}

struct DpoObjective {
  double beta;
  // Each trainable parameter with its value at the start, when that is the reference (see ReferencePolicy).
  std::vector<std::pair<torch::Tensor, torch::Tensor>> reference;

  // One micro-batch of pairs; with gradients, backpropagates the loss divided by `normaliser` (the step's
  // pairs, so that accumulation equals one big batch).
  DpoStats run(Transformer& model, const Batch& chosen, const Batch& rejected, double normaliser) const {
    torch::Tensor reference_chosen, reference_rejected;
    {
      torch::NoGradGuard no_grad;
      ReferencePolicy policy(model, reference);
      reference_chosen = answer_log_probabilities(model, chosen);  // (B)
      reference_rejected = answer_log_probabilities(model, rejected);
    }
    torch::Tensor chosen_reward = beta * (answer_log_probabilities(model, chosen) - reference_chosen);
    torch::Tensor rejected_reward = beta * (answer_log_probabilities(model, rejected) - reference_rejected);
    torch::Tensor losses = -torch::log_sigmoid(chosen_reward - rejected_reward);  // (B)
    if (losses.requires_grad()) (losses.sum() / normaliser).backward();
    DpoStats stats;
    stats.loss_sum = losses.sum().item<double>();
    stats.chosen_reward_sum = chosen_reward.sum().item<double>();
    stats.rejected_reward_sum = rejected_reward.sum().item<double>();
    stats.correct = chosen_reward.gt(rejected_reward).sum().item<double>();
    stats.pairs = losses.size(0);
    return stats;
  }

  std::optional<DpoStats> validate(Transformer& model, const BatchSource& chosen, const BatchSource& rejected,
                                   const torch::Device& device) const {
    if (chosen.size() == 0) return std::nullopt;
    torch::NoGradGuard no_grad;
    model->eval();
    DpoStats total;
    for (std::int64_t index = 0; index < chosen.batches_per_epoch(); ++index)
      total += run(model, chosen.sequential_batch(index).to(device), rejected.sequential_batch(index).to(device), 1);
    model->train();
    return total;
  }
};

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
  std::string device_name = resolve_device(options.device);
  Setup setup = prepare(db, options, device_name);
  torch::Device device(device_name);
  configure_threads(options.threads);
  const bool bf16 = device.is_cuda();
  const bool dpo = options.stage == "dpo";

  // dpo: the chosen and rejected answers of a pair sit in the same row of the two sources (same size, seed)
  BatchSource train_data(setup.train_examples, options.batch_size, options.seed, setup.loss_on_all);
  BatchSource val_data(setup.val_examples, options.batch_size, options.seed, setup.loss_on_all);
  BatchSource train_rejected(setup.pairs.train_rejected, options.batch_size, options.seed, false);
  BatchSource val_rejected(setup.pairs.val_rejected, options.batch_size, options.seed, false);
  DpoObjective objective{options.dpo_beta, {}};

  // 2. Parameters and optimizer; resume restores weights, optimizer, RNG and data position.
  setup.model->to(device);
  setup.model->train();
  std::vector<torch::Tensor> parameters = trainable_parameters(setup.model);
  // Taken before a resume restores the trained weights: the reference is the adapter as --adapter gave it.
  if (dpo && setup.from_adapter) {
    for (const auto& parameter : parameters) objective.reference.emplace_back(parameter, parameter.detach().clone());
  }
  torch::optim::AdamW optimizer = make_optimizer(parameters, options);
  fs::path checkpoints_dir = options.out_dir / "checkpoints";
  std::int64_t start_step = 0;
  if (options.resume) {
    if (auto latest = latest_checkpoint(checkpoints_dir)) {
      require_same_settings(*latest, checkpoint_info(setup, options, 0));
      start_step = restore_training_state(*latest, setup.model, optimizer, options.stage != "base");
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
  summary.skipped_pairs = setup.pairs.skipped;
  for (const auto& parameter : setup.model->parameters()) {
    summary.parameters += parameter.numel();
    if (parameter.requires_grad()) summary.trainable_parameters += parameter.numel();
  }
  spdlog::info("training {} on {}: {} parameters ({} trainable), {} train / {} val examples", options.stage,
               device_name, summary.parameters, summary.trainable_parameters, summary.train_examples,
               summary.val_examples);
  if (options.stage == "dpo" && (setup.pairs.skipped > 0 || setup.pairs.truncated > 0)) {
    spdlog::info("{}: {} pairs skipped (one answer twice, or no room for the answers in --max-length {}), {} "
                 "prompts cut to fit", options.dpo_data.string(), setup.pairs.skipped, options.max_length,
                 setup.pairs.truncated);
  }

  // 3. The loop.
  MetricsWriter metrics(db, run_id, options.stage);
  const auto started = Clock::now();
  auto window_start = started;
  std::int64_t window_tokens = 0;
  double window_loss = 0;
  std::int64_t window_steps = 0;
  double last_loss = 0;
  DpoStats window_dpo;
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
    for (std::size_t micro = 0; micro < micro_batches.size(); ++micro) {
      const Batch& batch = micro_batches[micro];
      if (dpo) {
        // a pair per row: the loss is the mean over the step's pairs
        Batch rejected = train_rejected.batch(step * options.grad_accumulation + static_cast<std::int64_t>(micro))
                             .to(device);
        const double pairs = static_cast<double>(options.batch_size * options.grad_accumulation);
        DpoStats stats;
        {
          Bf16Autocast autocast(bf16);
          stats = objective.run(setup.model, batch, rejected, pairs);
        }
        step_loss_sum += stats.loss_sum;
        window_dpo += stats;
        window_tokens += batch.n_tokens + rejected.n_tokens;
        summary.tokens += batch.n_tokens + rejected.n_tokens;
        continue;
      }
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
    if (dpo) step_targets = options.batch_size * options.grad_accumulation;
    if (options.grad_clip > 0) torch::nn::utils::clip_grad_norm_(parameters, options.grad_clip);
    optimizer.step();
    last_loss = step_loss_sum / static_cast<double>(std::max<std::int64_t>(1, step_targets));
    summary.step_seconds += std::chrono::duration<double>(Clock::now() - step_started).count();
    window_loss += last_loss;
    ++window_steps;

    const std::int64_t done = step + 1;
    const bool last = done == options.max_steps;
    std::optional<double> val_loss;
    std::optional<DpoStats> val_dpo;
    if (last || (options.eval_every > 0 && done % options.eval_every == 0)) {
      if (dpo) {
        val_dpo = objective.validate(setup.model, val_data, val_rejected, device);
        if (val_dpo) val_loss = val_dpo->loss_sum / static_cast<double>(val_dpo->pairs);
      } else {
        val_loss = validation_loss(setup.model, val_data, device);
      }
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
      if (dpo && window_dpo.pairs > 0) {
        window_dpo.append_to(values, "dpo.");
        summary.reward_accuracy = window_dpo.accuracy();
      }
      if (val_dpo) {
        val_dpo->append_to(values, "dpo.val_");
        summary.val_reward_accuracy = val_dpo->accuracy();
      }
      metrics.write(done, values);
      if (progress) progress({done, options.max_steps, window_loss / static_cast<double>(window_steps), learning_rate,
                              tokens_per_second, val_loss});
      window_start = Clock::now();
      window_tokens = 0;
      window_loss = 0;
      window_steps = 0;
      window_dpo = DpoStats{};
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
