// The transformer's sizes and variants: read from YAML (built-in presets `tiny` and `small`, or a file) or
// from a Hugging Face config.json (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM), and written back
// as config.json beside each checkpoint. Carries no LibTorch: `model import` inspects folders without it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::model {

// Rotary-embedding frequency scaling, as transformers' `rope_scaling` (modeling_rope_utils.py).
struct RopeScaling {
  // "" (none), "linear" (inv_freq / factor) or "llama3" (_compute_llama3_parameters: low frequencies divided
  // by factor, high ones kept, a smooth blend between).
  std::string type;
  double factor = 1.0;
  double low_freq_factor = 1.0;                       // llama3
  double high_freq_factor = 4.0;                      // llama3
  std::int64_t original_max_position_embeddings = 0;  // llama3
};

struct ModelConfig {
  std::int64_t vocab_size = 0;  // taken from the tokenizer when 0 in the YAML
  std::int64_t dim = 256;       // hidden size
  std::int64_t n_layers = 4;
  std::int64_t n_heads = 8;
  std::int64_t n_kv_heads = 4;    // grouped-query attention: n_heads % n_kv_heads == 0
  std::int64_t hidden_dim = 704;  // SwiGLU inner size
  std::int64_t max_seq_len = 256;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  bool tie_embeddings = true;
  double dropout = 0.0;  // residual and attention dropout during training

  // ---- Hugging Face variants (the defaults are our own Llama checkpoints) ----
  std::string architecture = "LlamaForCausalLM";  // or Qwen2ForCausalLM, MistralForCausalLM
  std::int64_t explicit_head_dim = 0;             // config.json's `head_dim`; 0: dim / n_heads
  bool qkv_bias = false;  // q, k, v projections have biases (Qwen2; Llama attention_bias)
  bool o_bias = false;    // the output projection has a bias (Llama attention_bias)
  bool mlp_bias = false;  // gate, up and down have biases (Llama mlp_bias)
  RopeScaling rope_scaling;
  // Mistral's (and Qwen2's when use_sliding_window) attention window; 0: none. Recorded only: attention is
  // full, which equals the windowed attention for sequences no longer than the window.
  std::int64_t sliding_window = 0;
  std::string torch_dtype = "float32";  // the type the weights were saved in, as config.json names it
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;  // config.json's eos_token_id (an id or a list)

  std::int64_t head_dim() const { return explicit_head_dim > 0 ? explicit_head_dim : dim / n_heads; }
  // "llama", "qwen2" or "mistral": config.json's model_type for the architecture.
  std::string model_type() const;
  // Error(usage) naming the field when sizes do not fit together.
  void validate() const;
  // Number of parameters (tied head counted once, biases included).
  std::int64_t parameter_count() const;

  // Hugging Face names: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
  // num_key_value_heads, max_position_embeddings, rope_theta, rms_norm_eps, tie_word_embeddings, vocab_size,
  // "architectures": [architecture], "model_type", and the variant keys (head_dim, attention_bias, mlp_bias,
  // rope_scaling, sliding_window, bos_token_id, eos_token_id) where they are set.
  nlohmann::json to_json() const;
  // Reads the config.json of LlamaForCausalLM, Qwen2ForCausalLM or MistralForCausalLM (and our own, which
  // are Llama), with transformers' defaults for keys it may omit. Error(bad_input) naming `source` and the
  // key when a key is missing or of the wrong type, the architecture is not supported, or a setting that
  // changes the math is one this transformer does not implement (hidden_act other than silu, a rope_scaling
  // type other than linear and llama3).
  static ModelConfig from_json(const nlohmann::json& json, const std::string& source);
};

// The architectures from_json reads.
inline constexpr const char* k_supported_architectures[] = {"LlamaForCausalLM", "Qwen2ForCausalLM",
                                                            "MistralForCausalLM"};

// One weight of the model under its Hugging Face name, with its shape.
struct HfTensorShape {
  std::string name;
  std::vector<std::int64_t> shape;
};
// Every weight a model of this config has under Hugging Face names, in the order of the layers:
// model.embed_tokens.weight, model.layers.{i}.input_layernorm.weight, ...self_attn.q_proj.weight (and .bias
// where the config has one), ..., model.norm.weight, lm_head.weight unless tied.
std::vector<HfTensorShape> hf_tensor_shapes(const ModelConfig& config);

// `tiny` (tests; well under 1 M parameters), `small` (CPU training, ~10–30 M parameters), or a YAML file
// with the ModelConfig field names; Error(usage) for an unknown preset or key.
ModelConfig load_model_config(const std::string& preset_or_path);
// Parses a config's YAML text; `origin` names it in errors.
ModelConfig parse_model_config(const std::string& yaml_text, const std::string& origin);

// The text of a built-in preset by file name ("tiny.yaml"), or "" (generated from config/models/).
std::string_view builtin_model_preset_text(std::string_view name);

}  // namespace medcode::model
