// The transformer's sizes: YAML presets and files in, Hugging Face LlamaConfig-style config.json out.
#include "medcode/model/config.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "medcode/util/error.h"
#include "medcode/util/files.h"

namespace medcode::model {

namespace {

const std::set<std::string> k_yaml_keys = {
    "vocab_size",  "dim",        "n_layers", "n_heads",        "n_kv_heads", "hidden_dim",
    "max_seq_len", "rope_theta", "norm_eps", "tie_embeddings", "dropout"};

template <typename T>
T yaml_value(const YAML::Node& node, const std::string& key, const std::string& origin) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    fail(ExitCode::usage, "{}: `{}` has the wrong type ('{}')", origin, key, node.Scalar());
  }
}

template <typename T>
T json_value(const nlohmann::json& json, const char* key, const std::string& source) {
  if (!json.contains(key)) fail(ExitCode::bad_input, "{}: `{}` is missing", source, key);
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(ExitCode::bad_input, "{}: `{}` has the wrong type ({})", source, key, json.at(key).dump());
  }
}

}  // namespace

void ModelConfig::validate() const {
  auto positive = [](std::int64_t value, const char* name) {
    if (value <= 0) fail(ExitCode::usage, "model config: `{}` must be positive, not {}", name, value);
  };
  if (vocab_size < 0)
    fail(ExitCode::usage, "model config: `vocab_size` must not be negative ({})", vocab_size);
  positive(dim, "dim");
  positive(n_layers, "n_layers");
  positive(n_heads, "n_heads");
  positive(n_kv_heads, "n_kv_heads");
  positive(hidden_dim, "hidden_dim");
  positive(max_seq_len, "max_seq_len");
  if (dim % n_heads != 0)
    fail(ExitCode::usage, "model config: `dim` {} is not a multiple of `n_heads` {}", dim, n_heads);
  if (n_heads % n_kv_heads != 0) {
    fail(ExitCode::usage, "model config: `n_heads` {} is not a multiple of `n_kv_heads` {}", n_heads,
         n_kv_heads);
  }
  if (head_dim() % 2 != 0) {
    fail(ExitCode::usage, "model config: the head size dim / n_heads = {} must be even for rotary embeddings",
         head_dim());
  }
  if (rope_theta <= 0)
    fail(ExitCode::usage, "model config: `rope_theta` must be positive, not {}", rope_theta);
  if (norm_eps <= 0) fail(ExitCode::usage, "model config: `norm_eps` must be positive, not {}", norm_eps);
  if (dropout < 0 || dropout >= 1)
    fail(ExitCode::usage, "model config: `dropout` must be in [0, 1), not {}", dropout);
}

std::int64_t ModelConfig::parameter_count() const {
  const std::int64_t kv_dim = n_kv_heads * head_dim();
  const std::int64_t attention = dim * dim * 2 + dim * kv_dim * 2;  // q, o and k, v
  const std::int64_t mlp = dim * hidden_dim * 3;                    // gate, up, down
  const std::int64_t block = attention + mlp + dim * 2;             // plus two norms
  const std::int64_t head = tie_embeddings ? 0 : vocab_size * dim;
  return vocab_size * dim + n_layers * block + dim + head;
}

nlohmann::json ModelConfig::to_json() const {
  return {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"vocab_size", vocab_size},
      {"hidden_size", dim},
      {"intermediate_size", hidden_dim},
      {"num_hidden_layers", n_layers},
      {"num_attention_heads", n_heads},
      {"num_key_value_heads", n_kv_heads},
      {"max_position_embeddings", max_seq_len},
      {"rope_theta", rope_theta},
      {"rms_norm_eps", norm_eps},
      {"tie_word_embeddings", tie_embeddings},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"attention_dropout", dropout},
      {"torch_dtype", "float32"},
  };
}

ModelConfig ModelConfig::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) fail(ExitCode::bad_input, "{}: the model config is not a JSON object", source);
  ModelConfig config;
  config.vocab_size = json_value<std::int64_t>(json, "vocab_size", source);
  config.dim = json_value<std::int64_t>(json, "hidden_size", source);
  config.hidden_dim = json_value<std::int64_t>(json, "intermediate_size", source);
  config.n_layers = json_value<std::int64_t>(json, "num_hidden_layers", source);
  config.n_heads = json_value<std::int64_t>(json, "num_attention_heads", source);
  config.n_kv_heads = json_value<std::int64_t>(json, "num_key_value_heads", source);
  config.max_seq_len = json_value<std::int64_t>(json, "max_position_embeddings", source);
  config.rope_theta = json_value<double>(json, "rope_theta", source);
  config.norm_eps = json_value<double>(json, "rms_norm_eps", source);
  config.tie_embeddings = json_value<bool>(json, "tie_word_embeddings", source);
  if (json.contains("attention_dropout"))
    config.dropout = json_value<double>(json, "attention_dropout", source);
  try {
    config.validate();
  } catch (const Error& e) {
    fail(ExitCode::bad_input, "{}: {}", source, e.what());
  }
  return config;
}

ModelConfig parse_model_config(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(ExitCode::usage, "{}: not valid YAML: {}", origin, e.what());
  }
  if (!root.IsMap()) fail(ExitCode::usage, "{}: a model config is a map of sizes", origin);
  ModelConfig config;
  for (const auto& entry : root) {
    const auto key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (!k_yaml_keys.contains(key)) {
      fail(ExitCode::usage,
           "{}: unknown key `{}` (known: vocab_size, dim, n_layers, n_heads, n_kv_heads, "
           "hidden_dim, max_seq_len, rope_theta, norm_eps, tie_embeddings, dropout)",
           origin, key);
    }
    if (key == "vocab_size") config.vocab_size = yaml_value<std::int64_t>(value, key, origin);
    if (key == "dim") config.dim = yaml_value<std::int64_t>(value, key, origin);
    if (key == "n_layers") config.n_layers = yaml_value<std::int64_t>(value, key, origin);
    if (key == "n_heads") config.n_heads = yaml_value<std::int64_t>(value, key, origin);
    if (key == "n_kv_heads") config.n_kv_heads = yaml_value<std::int64_t>(value, key, origin);
    if (key == "hidden_dim") config.hidden_dim = yaml_value<std::int64_t>(value, key, origin);
    if (key == "max_seq_len") config.max_seq_len = yaml_value<std::int64_t>(value, key, origin);
    if (key == "rope_theta") config.rope_theta = yaml_value<double>(value, key, origin);
    if (key == "norm_eps") config.norm_eps = yaml_value<double>(value, key, origin);
    if (key == "tie_embeddings") config.tie_embeddings = yaml_value<bool>(value, key, origin);
    if (key == "dropout") config.dropout = yaml_value<double>(value, key, origin);
  }
  try {
    config.validate();
  } catch (const Error& e) {
    fail(ExitCode::usage, "{}: {}", origin, e.what());
  }
  return config;
}

ModelConfig load_model_config(const std::string& preset_or_path) {
  std::string_view builtin = builtin_model_preset_text(preset_or_path + ".yaml");
  if (!builtin.empty()) {
    return parse_model_config(std::string(builtin), "built-in config/models/" + preset_or_path + ".yaml");
  }
  const std::filesystem::path path(preset_or_path);
  if (!std::filesystem::is_regular_file(path)) {
    fail(ExitCode::usage, "unknown model config '{}': neither a preset (tiny, small) nor a YAML file",
         preset_or_path);
  }
  return parse_model_config(util::read_file(path), path.string());
}

}  // namespace medcode::model
