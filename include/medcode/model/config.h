// The transformer's sizes: read from YAML (built-in presets `tiny` and `small`, or a file) and written as a
// Hugging Face LlamaConfig-style config.json beside each checkpoint.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace medcode::model {

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

  std::int64_t head_dim() const { return dim / n_heads; }
  // Error(usage) naming the field when sizes do not fit together.
  void validate() const;
  // Number of parameters (tied head counted once).
  std::int64_t parameter_count() const;

  // Hugging Face names: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
  // num_key_value_heads, max_position_embeddings, rope_theta, rms_norm_eps, tie_word_embeddings, vocab_size,
  // plus "architectures": ["LlamaForCausalLM"] and "model_type": "llama".
  nlohmann::json to_json() const;
  // Error(bad_input) naming `source` and the key when a key is missing or of the wrong type.
  static ModelConfig from_json(const nlohmann::json& json, const std::string& source);
};

// `tiny` (tests; well under 1 M parameters), `small` (CPU training, ~10–30 M parameters), or a YAML file
// with the ModelConfig field names; Error(usage) for an unknown preset or key.
ModelConfig load_model_config(const std::string& preset_or_path);
// Parses a config's YAML text; `origin` names it in errors.
ModelConfig parse_model_config(const std::string& yaml_text, const std::string& origin);

// The text of a built-in preset by file name ("tiny.yaml"), or "" (generated from config/models/).
std::string_view builtin_model_preset_text(std::string_view name);

}  // namespace medcode::model
