// A Hugging Face model folder (config.json, model.safetensors or shards with model.safetensors.index.json,
// tokenizer files, generation_config.json) inspected without LibTorch: what `model import` shows, and the
// names, shapes and places of the weights that load_hf_model (hf_model.h) then maps.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "medcode/model/config.h"

namespace medcode::model {

// Where one of the model's weights lies.
struct HfTensorLocation {
  std::string name;  // model.layers.0.self_attn.q_proj.weight
  std::filesystem::path file;
  std::string dtype;  // safetensors' name: "BF16", "F16", "F32"
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;  // from the start of the file
  std::uint64_t bytes = 0;
};

struct HfFolder {
  std::filesystem::path dir;
  std::string architecture;  // LlamaForCausalLM, Qwen2ForCausalLM or MistralForCausalLM
  ModelConfig config;
  nlohmann::json config_json;                       // config.json as read
  std::vector<std::filesystem::path> weight_files;  // model.safetensors, or the shards in name order
  std::string dtype;                      // the weights' safetensors dtype; "mixed" when they differ
  std::int64_t tensor_count = 0;          // tensors in the weight files
  std::int64_t parameter_count = 0;       // elements of the tensors the model uses
  std::uint64_t total_bytes = 0;          // bytes of the weight files
  std::vector<HfTensorLocation> tensors;  // the model's weights, in hf_tensor_shapes order
  // In the files but not used, and harmless: rotary inv_freq buffers, lm_head.weight of a tied model
  // (transformers ignores it too).
  std::vector<std::string> ignored_tensors;
  std::string tokenizer_kind;  // "tokenizer.json", "tokenizer.model", or "" for none
  // chat_template.jinja if present (transformers prefers it), else tokenizer_config.json's chat_template: a
  // string, or a list of {name, template} whose "default" entry is `chat_template`, every entry in
  // `chat_templates`.
  std::optional<std::string> chat_template;
  std::map<std::string, std::string> chat_templates;
  std::optional<std::string> bos_token;  // tokenizer_config.json's, as text
  std::optional<std::string> eos_token;
  nlohmann::json generation_config;  // generation_config.json, or null when absent
  std::vector<std::int64_t>
      eos_token_ids;  // generation_config's eos_token_id (an id or a list), else config's
};

// Reads and checks a folder from its JSON files and the safetensors headers alone (no weight is read).
// Error(bad_input) naming the file and the key, tensor or shapes at fault: an unsupported architecture or
// setting in config.json, no model.safetensors (or index), a bad index.json or a shard it names that is
// missing, a corrupt or truncated safetensors header, a tensor the config expects that is missing or has
// another shape, a weight dtype other than F32, F16 and BF16, or a tensor the architecture does not use
// (an error rather than a warning: an extra weight means the config and the weights disagree, e.g. in
// layer count or biases, and dropping it silently would give a model that computes something else).
HfFolder inspect_hf_folder(const std::filesystem::path& dir);

}  // namespace medcode::model
