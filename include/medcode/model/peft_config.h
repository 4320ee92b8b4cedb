// PEFT's adapter_config.json for LoRA (https://huggingface.co/docs/peft), read without LibTorch: training that
// starts from an adapter, prediction with one, and export, which merges one into its base.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>

#include "medcode/model/stack.h"

namespace medcode::model {

inline constexpr const char* k_peft_config_file = "adapter_config.json";
inline constexpr const char* k_peft_weights_file = "adapter_model.safetensors";

// The LoRA settings of `json` (the adapter_config.json of the folder `dir`). Error(bad_input) naming the file
// and key for another peft_type, a missing key, a regex target_modules, and what would change the math and
// is not implemented (DoRA, trained biases, fan_in_fan_out, per-layer ranks, some layers only,
// modules_to_save): refused rather than silently ignored.
LoraConfig read_peft_lora_config(const nlohmann::json& json, const std::filesystem::path& dir);

}  // namespace medcode::model
