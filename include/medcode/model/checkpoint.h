// Checkpoint folders. A model folder holds model.safetensors (Hugging Face Llama names), config.json,
// tokenizer.model and medcode.json (what it was trained on); a LoRA folder holds PEFT's adapter_config.json
// and adapter_model.safetensors, plus medcode.json naming its base folder. Files are written to temporary
// names and renamed, so a checkpoint counts only once complete.
//
// A base may also be a pretrained Hugging Face folder (hf_folder.h: config.json with `architectures`, no
// medcode.json), and a LoRA folder may come from PEFT elsewhere (no medcode.json: its base is the one given,
// else adapter_config.json's base_model_name_or_path).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "medcode/model/config.h"
#include "medcode/model/lora.h"
#include "medcode/model/transformer.h"

namespace medcode::model {

// What medcode records beside the weights.
struct CheckpointInfo {
  std::string stage;  // base | lora | dpo, or "pretrained" for a Hugging Face folder
  std::string tokenizer_sha256;
  std::string token_set;
  std::int64_t step = 0;
  std::optional<std::filesystem::path> base_dir;    // lora: the base model folder
  nlohmann::json extra = nlohmann::json::object();  // training settings, final losses
};

void save_model(const std::filesystem::path& dir, const Transformer& model, const CheckpointInfo& info,
                const std::filesystem::path& tokenizer_model);
void save_lora_adapter(const std::filesystem::path& dir, const Transformer& model, const LoraConfig& lora,
                       const CheckpointInfo& info);

struct LoadedModel {
  Transformer model{nullptr};
  CheckpointInfo info;
  std::optional<LoraConfig> lora;        // when `dir` was a LoRA folder (adapters applied and merged)
  // The base folder's tokenizer.model, or a pretrained base's tokenizer.json.
  std::filesystem::path tokenizer_path;
  std::string version;                   // "<stage>:<folder name>@<step>"
  bool pretrained = false;               // the base is a Hugging Face folder
  std::filesystem::path base_dir;        // the folder of the base model (`dir` itself for a base)
  // A pretrained base's chat format as the adapter was trained on it (a chat family name), or "auto" (the
  // folder's own template) for an adapter that does not say; "medcode" for medcode's own models.
  std::string prompt_format = "medcode";
};

struct LoadOptions {
  bool merge = true;  // merge a LoRA folder's adapters into the base weights
  // A LoRA folder's base, in place of the one it names.
  std::optional<std::filesystem::path> base;
  // A pretrained base's weights: float32, or bfloat16 to halve the memory of a frozen base.
  torch::ScalarType pretrained_dtype = torch::kFloat;
};

// Loads a model folder, a pretrained Hugging Face folder, or a LoRA folder with its base (adapters applied;
// merged when `merge` is true). Error(bad_input) naming the folder and the file missing or at fault.
LoadedModel load_model(const std::filesystem::path& dir, const LoadOptions& options);
LoadedModel load_model(const std::filesystem::path& dir, bool merge = true);
bool is_lora_dir(const std::filesystem::path& dir);
// A LoRA folder's configuration and tensors alone (no base): training that starts from an adapter.
struct LoraAdapterFiles {
  LoraConfig lora;
  std::map<std::string, torch::Tensor> weights;
  std::filesystem::path weights_path;
};
LoraAdapterFiles read_lora_adapter(const std::filesystem::path& dir);
// A Hugging Face model folder that medcode did not write: config.json with `architectures`, no medcode.json.
bool is_pretrained_dir(const std::filesystem::path& dir);

}  // namespace medcode::model
