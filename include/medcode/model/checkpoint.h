// Checkpoint folders. A model folder holds model.safetensors (Hugging Face Llama names), config.json,
// tokenizer.model and medcode.json (what it was trained on); a LoRA folder holds PEFT's adapter_config.json
// and adapter_model.safetensors, plus medcode.json naming its base folder. Files are written to temporary
// names and renamed, so a checkpoint counts only once complete.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

#include "medcode/model/config.h"
#include "medcode/model/lora.h"
#include "medcode/model/transformer.h"

namespace medcode::model {

// What medcode records beside the weights.
struct CheckpointInfo {
  std::string stage;  // base | lora
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
  std::filesystem::path tokenizer_path;  // the base folder's tokenizer.model
  std::string version;                   // "<stage>:<folder name>@<step>"
};

// Loads a model folder, or a LoRA folder with its base (adapters applied; merged when `merge` is true).
// Error(bad_input) naming the folder and the file missing or at fault.
LoadedModel load_model(const std::filesystem::path& dir, bool merge = true);
bool is_lora_dir(const std::filesystem::path& dir);

}  // namespace medcode::model
