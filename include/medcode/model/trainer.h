// The trainer: AdamW with warm-up and a cosine schedule, gradient clipping and accumulation, validation loss,
// metrics in the store, atomic checkpoints and exact resume. Stage `base` trains every weight from scratch;
// stage `lora` trains LoRA adapters on a frozen base model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "medcode/model/lora.h"
#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::model {

struct TrainOptions {
  std::string stage = "base";           // base | lora
  std::string token_set = "default";    // the token set `tokenize` wrote
  std::filesystem::path out_dir;        // the final model (or adapter) folder; checkpoints/ inside it
  std::string model_config = "small";   // base: a preset (tiny, small) or a YAML file
  std::optional<std::filesystem::path> base_dir;  // lora: the base model folder
  LoraConfig lora;

  std::int64_t max_steps = 1000;        // optimizer steps
  std::int64_t batch_size = 16;         // sequences per micro-batch
  std::int64_t grad_accumulation = 1;   // micro-batches per optimizer step
  double learning_rate = 1e-3;
  double min_learning_rate_ratio = 0.1;  // the cosine ends at ratio × learning_rate
  std::int64_t warmup_steps = 20;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;               // max global gradient norm; 0 turns clipping off
  std::int64_t eval_every = 100;        // validation loss every N steps (and at the end); 0: only at the end
  std::int64_t checkpoint_every = 200;  // 0: only the final save
  std::int64_t log_every = 10;          // metrics rows and progress every N steps
  std::int64_t keep_checkpoints = 2;
  bool resume = false;
  std::uint64_t seed = 42;
  std::string device = "auto";          // auto | cpu | cuda | mps
  int threads = 0;                      // 0: LibTorch's default
  // Which tokens count towards the loss: `completion` (the codes; default for lora) or `all` (every token
  // after <s>; default for base, which learns the language of the corpus too). Empty: the stage's default.
  std::string loss_on;
};

struct TrainSummary {
  std::filesystem::path out_dir;
  std::string device;
  std::int64_t steps = 0;               // optimizer steps done in all (including before a resume)
  std::int64_t resumed_from_step = 0;
  std::int64_t parameters = 0;
  std::int64_t trainable_parameters = 0;
  std::int64_t train_examples = 0;
  std::int64_t val_examples = 0;
  std::int64_t tokens = 0;              // tokens processed by this invocation
  double seconds = 0;           // the whole call
  double step_seconds = 0;      // in training steps only (no validation, metrics or checkpoints)
  double tokens_per_second = 0; // tokens / step_seconds
  double final_train_loss = 0;
  std::optional<double> final_val_loss;
  std::optional<double> best_val_loss;
  std::int64_t peak_memory_bytes = 0;   // the process's peak resident set size (host memory, on any device)
};

// A line of progress per log interval: the CLI renders it on stderr.
struct TrainProgress {
  std::int64_t step = 0;
  std::int64_t max_steps = 0;
  double loss = 0;
  double learning_rate = 0;
  double tokens_per_second = 0;
  std::optional<double> val_loss;
};
using TrainProgressCallback = std::function<void(const TrainProgress&)>;

// Checks everything first (token set, tokenizer match, sizes, LoRA ranks, an empty split) and throws
// Error(usage) or Error(bad_input) before any training step. `run_id` tags the metrics rows.
TrainSummary train(store::Database& db, std::int64_t run_id, const TrainOptions& options,
                   const TrainProgressCallback& progress = {});

// "cpu", "cuda" or "mps" for `auto|cpu|cuda|mps`; Error(usage) when the device asked for is not available.
std::string resolve_device(const std::string& requested);

}  // namespace medcode::model
