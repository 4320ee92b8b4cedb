// The transformer's sizes: YAML presets and files in; Hugging Face config.json (Llama, Qwen2, Mistral) in and
// out, with transformers' defaults for the keys a config.json may omit.
#include "medcode/model/config.h"

#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <iterator>
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

// ---------------------------------------------------------------------------------------- Hugging Face

// The architectures' config.json differ only in which keys exist and their defaults (transformers'
// LlamaConfig, Qwen2Config, MistralConfig); the math differs in biases and what the keys switch on.
struct ArchitectureDefaults {
  const char* architecture;
  const char* model_type;
  std::int64_t max_position_embeddings;
};

constexpr ArchitectureDefaults k_architectures[] = {
    {"LlamaForCausalLM", "llama", 2048},
    {"Qwen2ForCausalLM", "qwen2", 32768},
    {"MistralForCausalLM", "mistral", 4096 * 32},
};

const ArchitectureDefaults& architecture_defaults(const std::string& architecture) {
  for (const auto& defaults : k_architectures) {
    if (architecture == defaults.architecture) return defaults;
  }
  fail(ExitCode::internal, "no defaults for architecture {}", architecture);
}

std::string read_architecture(const nlohmann::json& json, const std::string& source) {
  std::string architecture;
  if (json.contains("architectures")) {
    const auto& list = json.at("architectures");
    if (!list.is_array() || list.empty() || !list[0].is_string())
      fail(ExitCode::bad_input, "{}: `architectures` is not a list of names ({})", source, list.dump());
    architecture = list[0].get<std::string>();
  } else if (json.contains("model_type") && json.at("model_type").is_string()) {
    const auto model_type = json.at("model_type").get<std::string>();
    for (const auto& defaults : k_architectures) {
      if (model_type == defaults.model_type) architecture = defaults.architecture;
    }
    if (architecture.empty()) {
      fail(ExitCode::bad_input, "{}: model_type: {} is not supported ({})", source, model_type,
           fmt::join(k_supported_architectures, ", "));
    }
  } else {
    fail(ExitCode::bad_input, "{}: `architectures` is missing", source);
  }
  if (std::find(std::begin(k_supported_architectures), std::end(k_supported_architectures), architecture) ==
      std::end(k_supported_architectures)) {
    fail(ExitCode::bad_input, "{}: architectures: {} is not supported ({})", source, architecture,
         fmt::join(k_supported_architectures, ", "));
  }
  return architecture;
}

// A key that may be absent or null: its value, or `fallback`.
template <typename T>
T optional_json_value(const nlohmann::json& json, const char* key, const std::string& source, T fallback) {
  if (!json.contains(key) || json.at(key).is_null()) return fallback;
  return json_value<T>(json, key, source);
}

// config.json's rope_scaling: null, or {"rope_type" (or older "type"): ..., "factor": ...}.
RopeScaling read_rope_scaling(const nlohmann::json& json, const std::string& source) {
  RopeScaling scaling;
  if (!json.contains("rope_scaling") || json.at("rope_scaling").is_null()) return scaling;
  const auto& node = json.at("rope_scaling");
  const std::string where = source + ": rope_scaling";
  if (!node.is_object()) fail(ExitCode::bad_input, "{} is not an object ({})", where, node.dump());
  const char* type_key = node.contains("rope_type") ? "rope_type" : "type";
  auto type = json_value<std::string>(node, type_key, where);
  if (type == "default") return scaling;
  if (type != "linear" && type != "llama3") {
    fail(ExitCode::bad_input, "{}: {}: {} is not supported (linear, llama3)", where, type_key, type);
  }
  scaling.type = type;
  scaling.factor = json_value<double>(node, "factor", where);
  if (scaling.factor < 1.0) fail(ExitCode::bad_input, "{}: factor {} is below 1", where, scaling.factor);
  if (type == "llama3") {
    scaling.low_freq_factor = json_value<double>(node, "low_freq_factor", where);
    scaling.high_freq_factor = json_value<double>(node, "high_freq_factor", where);
    scaling.original_max_position_embeddings =
        json_value<std::int64_t>(node, "original_max_position_embeddings", where);
    if (scaling.high_freq_factor <= scaling.low_freq_factor || scaling.low_freq_factor <= 0 ||
        scaling.original_max_position_embeddings <= 0) {
      fail(ExitCode::bad_input,
           "{}: llama3 needs 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0",
           where);
    }
  }
  return scaling;
}

std::vector<std::int64_t> read_token_ids(const nlohmann::json& json, const char* key,
                                         const std::string& source) {
  if (!json.contains(key) || json.at(key).is_null()) return {};
  const auto& node = json.at(key);
  if (node.is_number_integer()) return {node.get<std::int64_t>()};
  if (node.is_array() &&
      std::all_of(node.begin(), node.end(), [](const auto& id) { return id.is_number_integer(); }))
    return node.get<std::vector<std::int64_t>>();
  fail(ExitCode::bad_input, "{}: `{}` is neither a token id nor a list of them ({})", source, key,
       node.dump());
}

// Keys that only switch on what a given architecture has: biases and the attention window.
void read_variant_keys(ModelConfig& config, const nlohmann::json& json, const std::string& source) {
  if (config.architecture == "Qwen2ForCausalLM") {
    config.qkv_bias = true;  // Qwen2Attention: q, k, v with bias, o without
    if (optional_json_value<bool>(json, "use_sliding_window", source, false))
      config.sliding_window = optional_json_value<std::int64_t>(json, "sliding_window", source, 0);
  } else if (config.architecture == "MistralForCausalLM") {
    config.sliding_window = optional_json_value<std::int64_t>(json, "sliding_window", source, 0);
  } else {
    const bool attention_bias = optional_json_value<bool>(json, "attention_bias", source, false);
    config.qkv_bias = attention_bias;
    config.o_bias = attention_bias;
    config.mlp_bias = optional_json_value<bool>(json, "mlp_bias", source, false);
  }
}

}  // namespace

std::string ModelConfig::model_type() const { return architecture_defaults(architecture).model_type; }

void ModelConfig::validate() const {
  auto positive = [](std::int64_t value, const char* name) {
    if (value <= 0) fail(ExitCode::usage, "model config: `{}` must be positive, not {}", name, value);
  };
  if (vocab_size < 0)
    fail(ExitCode::usage, "model config: `vocab_size` must not be negative ({})", vocab_size);
  if (std::find(std::begin(k_supported_architectures), std::end(k_supported_architectures), architecture) ==
      std::end(k_supported_architectures)) {
    fail(ExitCode::usage, "model config: architecture {} is not supported ({})", architecture,
         fmt::join(k_supported_architectures, ", "));
  }
  positive(dim, "dim");
  positive(n_layers, "n_layers");
  positive(n_heads, "n_heads");
  positive(n_kv_heads, "n_kv_heads");
  positive(hidden_dim, "hidden_dim");
  positive(max_seq_len, "max_seq_len");
  if (explicit_head_dim < 0)
    fail(ExitCode::usage, "model config: `head_dim` must be positive, not {}", explicit_head_dim);
  if (explicit_head_dim == 0 && dim % n_heads != 0)
    fail(ExitCode::usage, "model config: `dim` {} is not a multiple of `n_heads` {}", dim, n_heads);
  if (n_heads % n_kv_heads != 0) {
    fail(ExitCode::usage, "model config: `n_heads` {} is not a multiple of `n_kv_heads` {}", n_heads,
         n_kv_heads);
  }
  if (head_dim() % 2 != 0) {
    fail(ExitCode::usage, "model config: the head size {} must be even for rotary embeddings", head_dim());
  }
  if (rope_theta <= 0)
    fail(ExitCode::usage, "model config: `rope_theta` must be positive, not {}", rope_theta);
  if (norm_eps <= 0) fail(ExitCode::usage, "model config: `norm_eps` must be positive, not {}", norm_eps);
  if (dropout < 0 || dropout >= 1)
    fail(ExitCode::usage, "model config: `dropout` must be in [0, 1), not {}", dropout);
}

std::vector<HfTensorShape> hf_tensor_shapes(const ModelConfig& config) {
  const std::int64_t q_dim = config.n_heads * config.head_dim();
  const std::int64_t kv_dim = config.n_kv_heads * config.head_dim();
  std::vector<HfTensorShape> shapes;
  shapes.push_back({"model.embed_tokens.weight", {config.vocab_size, config.dim}});
  auto linear = [&](const std::string& name, std::int64_t in, std::int64_t out, bool bias) {
    shapes.push_back({name + ".weight", {out, in}});
    if (bias) shapes.push_back({name + ".bias", {out}});
  };
  for (std::int64_t i = 0; i < config.n_layers; ++i) {
    const std::string prefix = fmt::format("model.layers.{}.", i);
    shapes.push_back({prefix + "input_layernorm.weight", {config.dim}});
    linear(prefix + "self_attn.q_proj", config.dim, q_dim, config.qkv_bias);
    linear(prefix + "self_attn.k_proj", config.dim, kv_dim, config.qkv_bias);
    linear(prefix + "self_attn.v_proj", config.dim, kv_dim, config.qkv_bias);
    linear(prefix + "self_attn.o_proj", q_dim, config.dim, config.o_bias);
    linear(prefix + "mlp.gate_proj", config.dim, config.hidden_dim, config.mlp_bias);
    linear(prefix + "mlp.up_proj", config.dim, config.hidden_dim, config.mlp_bias);
    linear(prefix + "mlp.down_proj", config.hidden_dim, config.dim, config.mlp_bias);
    shapes.push_back({prefix + "post_attention_layernorm.weight", {config.dim}});
  }
  shapes.push_back({"model.norm.weight", {config.dim}});
  if (!config.tie_embeddings) shapes.push_back({"lm_head.weight", {config.vocab_size, config.dim}});
  return shapes;
}

std::int64_t ModelConfig::parameter_count() const {
  std::int64_t count = 0;
  for (const auto& tensor : hf_tensor_shapes(*this)) {
    std::int64_t size = 1;
    for (auto extent : tensor.shape) size *= extent;
    count += size;
  }
  return count;
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json json = {
      {"architectures", {architecture}},
      {"model_type", model_type()},
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
      {"attention_dropout", dropout},
      {"torch_dtype", torch_dtype},
  };
  if (architecture == "LlamaForCausalLM") {
    json["attention_bias"] = qkv_bias;
    if (mlp_bias) json["mlp_bias"] = true;
  }
  if (architecture == "Qwen2ForCausalLM") json["use_sliding_window"] = sliding_window > 0;
  if (sliding_window > 0) json["sliding_window"] = sliding_window;
  if (explicit_head_dim > 0) json["head_dim"] = explicit_head_dim;
  if (!rope_scaling.type.empty()) {
    nlohmann::json scaling = {{"rope_type", rope_scaling.type}, {"factor", rope_scaling.factor}};
    if (rope_scaling.type == "llama3") {
      scaling["low_freq_factor"] = rope_scaling.low_freq_factor;
      scaling["high_freq_factor"] = rope_scaling.high_freq_factor;
      scaling["original_max_position_embeddings"] = rope_scaling.original_max_position_embeddings;
    }
    json["rope_scaling"] = scaling;
  }
  if (bos_token_id) json["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) json["eos_token_id"] = eos_token_ids.front();
  if (eos_token_ids.size() > 1) json["eos_token_id"] = eos_token_ids;
  return json;
}

ModelConfig ModelConfig::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) fail(ExitCode::bad_input, "{}: the model config is not a JSON object", source);
  ModelConfig config;
  config.architecture = read_architecture(json, source);
  const auto& defaults = architecture_defaults(config.architecture);
  config.vocab_size = json_value<std::int64_t>(json, "vocab_size", source);
  config.dim = json_value<std::int64_t>(json, "hidden_size", source);
  config.hidden_dim = json_value<std::int64_t>(json, "intermediate_size", source);
  config.n_layers = json_value<std::int64_t>(json, "num_hidden_layers", source);
  config.n_heads = json_value<std::int64_t>(json, "num_attention_heads", source);
  config.n_kv_heads = optional_json_value<std::int64_t>(json, "num_key_value_heads", source, config.n_heads);
  config.max_seq_len = optional_json_value<std::int64_t>(json, "max_position_embeddings", source,
                                                         defaults.max_position_embeddings);
  config.rope_theta = optional_json_value<double>(json, "rope_theta", source, 10000.0);
  config.norm_eps = optional_json_value<double>(json, "rms_norm_eps", source, 1e-6);
  config.tie_embeddings = optional_json_value<bool>(json, "tie_word_embeddings", source, false);
  config.dropout = optional_json_value<double>(json, "attention_dropout", source, 0.0);
  config.explicit_head_dim = optional_json_value<std::int64_t>(json, "head_dim", source, 0);
  if (config.explicit_head_dim == config.dim / std::max<std::int64_t>(config.n_heads, 1) &&
      config.dim % std::max<std::int64_t>(config.n_heads, 1) == 0) {
    config.explicit_head_dim = 0;  // the same as the default: no need to carry it
  }
  const auto activation = optional_json_value<std::string>(json, "hidden_act", source, "silu");
  if (activation != "silu" && activation != "swish")
    fail(ExitCode::bad_input, "{}: hidden_act: {} is not supported (silu)", source, activation);
  read_variant_keys(config, json, source);
  config.rope_scaling = read_rope_scaling(json, source);
  config.torch_dtype = optional_json_value<std::string>(
      json, "torch_dtype", source, optional_json_value<std::string>(json, "dtype", source, "float32"));
  if (auto bos = read_token_ids(json, "bos_token_id", source); bos.size() == 1)
    config.bos_token_id = bos.front();
  config.eos_token_ids = read_token_ids(json, "eos_token_id", source);
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
