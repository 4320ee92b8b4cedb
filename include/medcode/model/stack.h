// The model stack's interface: what training and prediction take and give, and the plugin that implements
// them. Everything that needs LibTorch lives in libmedcode_torch.so, opened with dlopen by the commands that
// train or predict; this header and its loader carry no LibTorch, so every other command starts without it.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/codes/code_system.h"
#include "medcode/store/database.h"

namespace medcode::model {

// ---- training ----

struct LoraConfig {
  std::int64_t rank = 8;
  double alpha = 16;
  double dropout = 0.05;
  // Among q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (PEFT's target_modules names).
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  bool rslora = false;  // rank-stabilised scaling alpha / sqrt(r) (PEFT's use_rslora)
  double scaling() const {
    return alpha / (rslora ? std::sqrt(static_cast<double>(rank)) : static_cast<double>(rank));
  }
};

struct TrainOptions {
  std::string stage = "base";          // base | lora | dpo
  std::string token_set = "default";   // the token set `tokenize` wrote
  std::filesystem::path out_dir;       // the final model (or adapter) folder; checkpoints/ inside it
  std::string model_config = "small";  // base: a preset (tiny, small) or a YAML file
  // lora, dpo: the base model folder (medcode's own, or a pretrained Hugging Face folder)
  std::optional<std::filesystem::path> base_dir;
  LoraConfig lora;
  // lora, dpo: adapters to start from (a LoRA folder on the same base; its rank and targets replace `lora`'s)
  std::optional<std::filesystem::path> adapter;
  // A pretrained base's frozen weights: auto (bf16 on CUDA, f32 on CPU), f32 or bf16.
  std::string base_dtype = "auto";
  bool grad_checkpoint = false;  // recompute each block in backward instead of keeping its activations
  // dpo: the preference pairs (export's dpo.jsonl: prompt, chosen, rejected, split) and the DPO temperature.
  std::filesystem::path dpo_data;
  double dpo_beta = 0.1;
  std::int64_t max_length = 1024;     // dpo: longest prompt + answer in tokens (prompts are cut to fit)
  std::string prompt_format = "auto";  // dpo: the base's chat format (auto: its template)

  std::int64_t max_steps = 1000;       // optimizer steps
  std::int64_t batch_size = 16;        // sequences per micro-batch
  std::int64_t grad_accumulation = 1;  // micro-batches per optimizer step
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
  std::string device = "auto";  // auto | cpu | cuda | mps
  int threads = 0;              // 0: the cores this process may use
  // Which tokens count towards the loss: `completion` (the codes; default for lora) or `all` (every token
  // after <s>; default for base, which learns the language of the corpus too). Empty: the stage's default.
  std::string loss_on;
};

struct TrainSummary {
  std::filesystem::path out_dir;
  std::string device;
  std::int64_t steps = 0;  // optimizer steps done in all (including before a resume)
  std::int64_t resumed_from_step = 0;
  std::int64_t parameters = 0;
  std::int64_t trainable_parameters = 0;
  std::int64_t train_examples = 0;
  std::int64_t val_examples = 0;
  std::int64_t tokens = 0;       // tokens processed by this invocation
  double seconds = 0;            // the whole call
  double step_seconds = 0;       // in training steps only (no validation, metrics or checkpoints)
  double tokens_per_second = 0;  // tokens / step_seconds
  double final_train_loss = 0;
  std::optional<double> final_val_loss;
  std::optional<double> best_val_loss;
  std::int64_t peak_memory_bytes = 0;  // the process's peak resident set size (host memory, on any device)
  // dpo: the pairs whose chosen answer the policy prefers more than the reference does, in the last log
  // interval and on the validation pairs
  std::optional<double> reward_accuracy;
  std::optional<double> val_reward_accuracy;
  std::int64_t skipped_pairs = 0;  // dpo: lines left out (same answer twice, too long)
};
nlohmann::json to_json(const TrainSummary& summary);

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

// ---- prediction ----

struct PredictOptions {
  // A model folder, a LoRA folder, or a pretrained Hugging Face folder.
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> base;  // a LoRA folder's base, in place of the one it names
  std::string prompt_format = "auto";  // a pretrained base's chat format: auto (as trained, else its template)
  std::size_t beam_size = 1;
  // Sampling (beam_size 1 only): the temperature (0: greedy), the nucleus and the generator's seed; the
  // same seed gives the same codes for the same text.
  double temperature = 0;
  double top_p = 1;
  std::uint64_t seed = 42;
  std::size_t max_codes = 8;
  std::size_t max_new_tokens = 64;
  std::size_t batch_size = 16;
  bool constrained = true;  // decode only the release's billable codes
  // The text is the whole prompt (after the tokenizer's own BOS), without the coding prompt or a chat
  // template, and the model continues it over the whole vocabulary until an end-of-text token or
  // max_new_tokens: what another runtime given the same ids must reproduce (an export's check).
  bool raw = false;
  std::string device = "auto";
  int threads = 0;  // 0: the cores this process may use
  codes::System system = codes::System::icd10cm;
  std::optional<int> year;  // the release; its newest when not given
};

struct PredictedCode {
  std::string code;
  std::string description;  // empty when the release lacks the code (unconstrained decoding)
  double score = 0;
  bool valid = false;  // the release has it
};

struct Prediction {
  std::vector<PredictedCode> codes;
  std::vector<PredictedCode> ranked;  // codes, then other beams' codes
  std::string completion;
  std::vector<std::int32_t> prompt_ids;     // the prompt as the model saw it
  std::vector<std::int32_t> generated_ids;  // the best sequence's tokens after it
  std::size_t n_prompt_tokens = 0;
  std::size_t n_generated_tokens = 0;
  double milliseconds = 0;  // this input's share of its batch's time
  bool truncated = false;
};

// A loaded model with its tokenizer and the release's valid codes.
class CodePredictor {
 public:
  virtual ~CodePredictor() = default;
  virtual std::vector<Prediction> predict(const std::vector<std::string>& texts) = 0;
  virtual const std::string& version() const = 0;
  virtual const std::string& device() const = 0;
  virtual const codes::ReleaseInfo& release() const = 0;
};

// ---- the plugin ----

// Raised whenever this header changes: a plugin built against another interface is refused.
inline constexpr int k_model_stack_abi = 4;
inline constexpr const char* k_model_plugin_file = "libmedcode_torch.so";

class ModelStack {
 public:
  virtual ~ModelStack() = default;
  // Checks everything first (token set, tokenizer match, sizes, LoRA ranks, an empty split) and throws
  // Error(usage) or Error(bad_input) before any training step. `run_id` tags the metrics rows.
  virtual TrainSummary train(store::Database& db, std::int64_t run_id, const TrainOptions& options,
                             const TrainProgressCallback& progress) = 0;
  // Error(bad_input) for a missing or broken model folder, or a release that is not imported.
  virtual std::unique_ptr<CodePredictor> open_predictor(store::Database& db,
                                                        const PredictOptions& options) = 0;
  // "cpu", "cuda" or "mps" for `auto|cpu|cuda|mps`; Error(usage) when that device is not available.
  virtual std::string resolve_device(const std::string& requested) = 0;
};

// The plugin, opened on first use and kept for the life of the process. Error(usage) naming the file and the
// places searched when it is missing, and naming both versions when it was built for another medcode.
ModelStack& model_stack();

}  // namespace medcode::model

// The plugin's entry points (C linkage, so dlsym finds them by these names).
extern "C" {
// The interface version and the medcode version the plugin was built for; both must match the binary's.
int medcode_model_stack_abi(void);
const char* medcode_model_stack_version(void);
// The stack, owned by the plugin.
medcode::model::ModelStack* medcode_model_stack(void);
}
