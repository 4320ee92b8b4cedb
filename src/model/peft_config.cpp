// PEFT's LoRA configuration, shared by the model stack and export (peft_config.h).
#include "medcode/model/peft_config.h"

#include "medcode/util/error.h"

namespace medcode::model {

namespace fs = std::filesystem;

LoraConfig read_peft_lora_config(const nlohmann::json& json, const fs::path& dir) {
  LoraConfig lora;
  try {
    if (json.at("peft_type").get<std::string>() != "LORA") {
      fail(ExitCode::bad_input, "checkpoint {}: {} is not a LoRA adapter (peft_type {})", dir.string(),
           k_peft_config_file, json.at("peft_type").dump());
    }
    lora.rank = json.at("r").get<std::int64_t>();
    lora.alpha = json.at("lora_alpha").get<double>();
    lora.dropout = json.value("lora_dropout", 0.0);
    const nlohmann::json& targets = json.at("target_modules");
    if (targets.is_string()) {
      // PEFT's shorthand for every linear layer but the output head; any other string is a regex
      if (targets.get<std::string>() != "all-linear") {
        fail(ExitCode::bad_input, "checkpoint {}: {}: target_modules is the pattern {}; only a list of names "
             "or \"all-linear\" is supported", dir.string(), k_peft_config_file, targets.dump());
      }
      lora.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    } else {
      lora.target_modules = targets.get<std::vector<std::string>>();
    }
    lora.rslora = json.contains("use_rslora") && json["use_rslora"].is_boolean() && json["use_rslora"].get<bool>();
    // what would change the math and is not implemented: refused rather than silently ignored
    auto refuse = [&](const char* key, const char* why) {
      fail(ExitCode::bad_input, "checkpoint {}: {}: {} {} ({} is not supported)", dir.string(),
           k_peft_config_file, key, json.at(key).dump(), why);
    };
    if (json.contains("use_dora") && json["use_dora"].is_boolean() && json["use_dora"].get<bool>())
      refuse("use_dora", "DoRA");
    if (json.contains("bias") && json["bias"].is_string() && json["bias"].get<std::string>() != "none")
      refuse("bias", "training biases");
    if (json.contains("fan_in_fan_out") && json["fan_in_fan_out"].is_boolean() &&
        json["fan_in_fan_out"].get<bool>())
      refuse("fan_in_fan_out", "transposed (Conv1D) weights");
    for (const char* key : {"rank_pattern", "alpha_pattern"}) {
      if (json.contains(key) && json[key].is_object() && !json[key].empty()) refuse(key, "per-layer ranks");
    }
    if (json.contains("layers_to_transform") && !json["layers_to_transform"].is_null())
      refuse("layers_to_transform", "adapting some layers only");
    if (json.contains("modules_to_save") && json["modules_to_save"].is_array() && !json["modules_to_save"].empty())
      refuse("modules_to_save", "fully trained extra modules");
  } catch (const nlohmann::json::exception& e) {
    fail(ExitCode::bad_input, "checkpoint {}: {}: {}", dir.string(), k_peft_config_file, e.what());
  }
  return lora;
}

}  // namespace medcode::model
