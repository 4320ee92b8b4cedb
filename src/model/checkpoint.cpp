// Model and LoRA checkpoint folders in the layout Hugging Face transformers and PEFT read, plus medcode.json,
// written last, so a folder without it is an unfinished checkpoint.
#include "medcode/model/checkpoint.h"

#include "medcode/text/tokenizer.h"

#include "medcode/model/hf_model.h"
#include "medcode/model/peft_config.h"
#include "medcode/model/safetensors.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"

namespace medcode::model {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_weights_file = "model.safetensors";
constexpr const char* k_config_file = "config.json";
constexpr const char* k_tokenizer_file = "tokenizer.model";
constexpr const char* k_info_file = "medcode.json";
constexpr const char* k_adapter_config_file = "adapter_config.json";
constexpr const char* k_adapter_weights_file = "adapter_model.safetensors";

// transformers refuses safetensors files whose metadata lacks the framework.
const std::map<std::string, std::string> k_weights_metadata = {{"format", "pt"}};

fs::path required_file(const fs::path& dir, const char* name) {
  auto path = dir / name;
  if (!fs::is_regular_file(path))
    fail(ExitCode::bad_input, "checkpoint {}: {} is missing", dir.string(), name);
  return path;
}

nlohmann::json read_json(const fs::path& dir, const char* name) {
  auto path = required_file(dir, name);
  try {
    return nlohmann::json::parse(util::read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(ExitCode::bad_input, "checkpoint {}: {} is not valid JSON: {}", dir.string(), name, e.what());
  }
}

void write_json(const fs::path& path, const nlohmann::json& json) {
  util::write_file_atomic(path, json.dump(2) + "\n");
}

std::string folder_name(const fs::path& dir) {
  auto normal = fs::absolute(dir).lexically_normal();
  if (normal.filename().empty()) normal = normal.parent_path();
  return normal.filename().string();
}

nlohmann::json info_to_json(const CheckpointInfo& info, const nlohmann::json& file_hashes) {
  nlohmann::json json = {
      {"stage", info.stage},         {"tokenizer_sha256", info.tokenizer_sha256},
      {"token_set", info.token_set}, {"step", info.step},
      {"extra", info.extra},         {"sha256", file_hashes},
  };
  if (info.base_dir) json["base_dir"] = info.base_dir->generic_string();
  return json;
}

CheckpointInfo info_from_json(const nlohmann::json& json, const fs::path& dir) {
  CheckpointInfo info;
  try {
    info.stage = json.at("stage").get<std::string>();
    info.tokenizer_sha256 = json.value("tokenizer_sha256", "");
    info.token_set = json.value("token_set", "");
    info.step = json.at("step").get<std::int64_t>();
    if (json.contains("base_dir")) info.base_dir = fs::path(json.at("base_dir").get<std::string>());
    if (json.contains("extra")) info.extra = json.at("extra");
  } catch (const nlohmann::json::exception& e) {
    fail(ExitCode::bad_input, "checkpoint {}: {} is incomplete: {}", dir.string(), k_info_file, e.what());
  }
  return info;
}

// medcode.json records each file's SHA-256; a file changed since is an integrity failure.
void verify_hashes(const fs::path& dir, const nlohmann::json& info_json) {
  if (!info_json.contains("sha256")) return;
  for (const auto& [name, expected] : info_json.at("sha256").items()) {
    auto actual = util::sha256_file_hex(required_file(dir, name.c_str()));
    if (actual != expected.get<std::string>()) {
      fail(ExitCode::integrity, "checkpoint {}: {} has changed since it was saved (SHA-256 {}, expected {})",
           dir.string(), name, actual, expected.get<std::string>());
    }
  }
}

nlohmann::json adapter_config_json(const LoraConfig& lora, const CheckpointInfo& info) {
  nlohmann::json json = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"r", lora.rank},
      {"lora_alpha", lora.alpha},
      {"lora_dropout", lora.dropout},
      {"target_modules", lora.target_modules},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"base_model_name_or_path",
       info.base_dir ? fs::absolute(*info.base_dir).lexically_normal().string() : ""},
      {"inference_mode", true},
      {"modules_to_save", nullptr},
      {"init_lora_weights", true},
      {"use_rslora", lora.rslora},
      {"use_dora", false},
  };
  return json;
}

// The base folder recorded in a LoRA folder's medcode.json, relative to the LoRA folder unless absolute.
fs::path resolve_base_dir(const fs::path& lora_dir, const CheckpointInfo& info) {
  if (!info.base_dir) {
    fail(ExitCode::bad_input, "checkpoint {}: {} names no base_dir", lora_dir.string(), k_info_file);
  }
  return info.base_dir->is_absolute() ? *info.base_dir : (lora_dir / *info.base_dir).lexically_normal();
}

LoadedModel load_pretrained(const fs::path& dir, torch::ScalarType dtype) {
  HfFolder folder = inspect_hf_folder(dir);
  if (folder.tokenizer_kind != "tokenizer.json") {
    fail(ExitCode::bad_input, "{}: {}; medcode trains and predicts on bases with a tokenizer.json", dir.string(),
         folder.tokenizer_kind.empty() ? "no tokenizer" : "only a SentencePiece tokenizer.model");
  }
  LoadedModel loaded;
  loaded.pretrained = true;
  loaded.base_dir = dir;
  loaded.tokenizer_path = dir / "tokenizer.json";
  loaded.info.stage = "pretrained";
  loaded.info.tokenizer_sha256 = util::sha256_file_hex(loaded.tokenizer_path);
  loaded.prompt_format = "auto";
  loaded.model = load_hf_model(folder, torch::kCPU, dtype);
  return loaded;
}

LoadedModel load_base_model(const fs::path& dir, const LoadOptions& options) {
  if (is_pretrained_dir(dir)) return load_pretrained(dir, options.pretrained_dtype);
  const auto info_json = read_json(dir, k_info_file);
  LoadedModel loaded;
  loaded.info = info_from_json(info_json, dir);
  auto config = ModelConfig::from_json(read_json(dir, k_config_file), (dir / k_config_file).string());
  loaded.tokenizer_path = required_file(dir, k_tokenizer_file);
  auto weights_path = required_file(dir, k_weights_file);
  verify_hashes(dir, info_json);
  loaded.model = Transformer(config);
  loaded.model->load_hf_state_dict(read_safetensors(weights_path).tensors, weights_path.string());
  loaded.model->eval();
  loaded.base_dir = dir;
  return loaded;
}

// A LoRA folder's base: the one asked for, else the one its medcode.json names, else PEFT's
// base_model_name_or_path when that is a folder here (a hub name is not: it needs --base).
fs::path adapter_base(const fs::path& dir, const std::optional<CheckpointInfo>& info,
                      const nlohmann::json& adapter_config, const LoadOptions& options) {
  if (options.base) return *options.base;
  if (info) return resolve_base_dir(dir, *info);
  std::string named = adapter_config.value("base_model_name_or_path", "");
  if (!named.empty() && fs::is_directory(named)) return named;
  fail(ExitCode::usage, "{}: a PEFT adapter whose base {} is not a folder here; give the base's folder with --base",
       dir.string(), named.empty() ? "is not named" : "'" + named + "'");
}

}  // namespace

void save_model(const fs::path& dir, const Transformer& model, const CheckpointInfo& info,
                const fs::path& tokenizer_model) {
  fs::create_directories(dir);
  write_safetensors(dir / k_weights_file, model->hf_state_dict(), k_weights_metadata);
  // The tokenizer's special ids, so that transformers' generate() stops where medcode does.
  nlohmann::json config = model->config().to_json();
  config["bos_token_id"] = text::k_bos_id;
  config["eos_token_id"] = text::k_eos_id;
  config["pad_token_id"] = text::k_pad_id;
  write_json(dir / k_config_file, config);
  util::write_file_atomic(dir / k_tokenizer_file, util::read_file(tokenizer_model));

  CheckpointInfo saved = info;
  if (saved.stage.empty()) saved.stage = "base";
  const auto tokenizer_sha256 = util::sha256_file_hex(dir / k_tokenizer_file);
  if (!saved.tokenizer_sha256.empty() && saved.tokenizer_sha256 != tokenizer_sha256) {
    fail(ExitCode::integrity, "{}: SHA-256 {} is not the {} the model was trained with",
         tokenizer_model.string(), tokenizer_sha256, saved.tokenizer_sha256);
  }
  saved.tokenizer_sha256 = tokenizer_sha256;
  nlohmann::json hashes = {{k_weights_file, util::sha256_file_hex(dir / k_weights_file)},
                           {k_tokenizer_file, tokenizer_sha256}};
  write_json(dir / k_info_file, info_to_json(saved, hashes));
}

void save_lora_adapter(const fs::path& dir, const Transformer& model, const LoraConfig& lora,
                       const CheckpointInfo& info) {
  if (!info.base_dir)
    fail(ExitCode::usage, "saving a LoRA adapter to {} needs its base model folder", dir.string());
  fs::create_directories(dir);
  write_safetensors(dir / k_adapter_weights_file, lora_state_dict(model), k_weights_metadata);
  write_json(dir / k_adapter_config_file, adapter_config_json(lora, info));

  CheckpointInfo saved = info;
  if (saved.stage.empty()) saved.stage = "lora";
  // relative to the adapter folder, so that the two folders can move together
  const auto base = fs::absolute(*info.base_dir).lexically_normal();
  const auto relative = base.lexically_relative(fs::absolute(dir).lexically_normal());
  saved.base_dir = relative.empty() ? base : relative;
  nlohmann::json hashes = {{k_adapter_weights_file, util::sha256_file_hex(dir / k_adapter_weights_file)}};
  write_json(dir / k_info_file, info_to_json(saved, hashes));
}

bool is_lora_dir(const fs::path& dir) { return fs::is_regular_file(dir / k_adapter_config_file); }

LoraAdapterFiles read_lora_adapter(const fs::path& dir) {
  if (!is_lora_dir(dir)) fail(ExitCode::bad_input, "{}: not a LoRA folder (no {})", dir.string(), k_adapter_config_file);
  LoraAdapterFiles files;
  files.lora = read_peft_lora_config(read_json(dir, k_adapter_config_file), dir);
  files.weights_path = required_file(dir, k_adapter_weights_file);
  if (fs::exists(dir / k_info_file)) verify_hashes(dir, read_json(dir, k_info_file));
  files.weights = read_safetensors(files.weights_path).tensors;
  return files;
}

bool is_pretrained_dir(const fs::path& dir) {
  if (is_lora_dir(dir) || fs::exists(dir / k_info_file) || !fs::is_regular_file(dir / k_config_file)) return false;
  nlohmann::json config = nlohmann::json::parse(util::read_file(dir / k_config_file), nullptr, false);
  return config.is_object() && config.contains("architectures");
}

LoadedModel load_model(const fs::path& dir, bool merge) {
  LoadOptions options;
  options.merge = merge;
  return load_model(dir, options);
}

LoadedModel load_model(const fs::path& dir, const LoadOptions& options) {
  if (!fs::is_directory(dir)) fail(ExitCode::bad_input, "checkpoint {}: no such folder", dir.string());
  if (!is_lora_dir(dir)) {
    auto loaded = load_base_model(dir, options);
    loaded.version = loaded.pretrained ? fmt::format("pretrained:{}", folder_name(dir))
                                       : fmt::format("{}:{}@{}", loaded.info.stage, folder_name(dir), loaded.info.step);
    return loaded;
  }
  // medcode's own adapters have medcode.json; PEFT's from elsewhere do not
  std::optional<CheckpointInfo> info;
  nlohmann::json info_json;
  if (fs::exists(dir / k_info_file)) {
    info_json = read_json(dir, k_info_file);
    info = info_from_json(info_json, dir);
  }
  const nlohmann::json adapter_config = read_json(dir, k_adapter_config_file);
  auto lora = read_peft_lora_config(adapter_config, dir);
  if (!fs::exists(dir / k_adapter_weights_file) && fs::exists(dir / "adapter_model.bin")) {
    fail(ExitCode::bad_input, "checkpoint {}: adapter_model.bin is a pickle, which medcode does not load; save the "
         "adapter with safe_serialization (adapter_model.safetensors)", dir.string());
  }
  auto weights_path = required_file(dir, k_adapter_weights_file);
  if (info) verify_hashes(dir, info_json);
  const auto base_dir = adapter_base(dir, info, adapter_config, options);
  if (is_lora_dir(base_dir))
    fail(ExitCode::bad_input, "checkpoint {}: its base {} is itself a LoRA folder", dir.string(),
         base_dir.string());

  auto loaded = load_base_model(base_dir, options);
  if (info && !info->tokenizer_sha256.empty() && info->tokenizer_sha256 != loaded.info.tokenizer_sha256) {
    fail(ExitCode::integrity, "checkpoint {}: trained with another tokenizer than its base {}", dir.string(),
         base_dir.string());
  }
  apply_lora(loaded.model, lora);
  load_lora_state_dict(loaded.model, read_safetensors(weights_path).tensors, weights_path.string());
  if (options.merge) merge_lora(loaded.model, /*restorable=*/false);  // for prediction: W is not kept
  loaded.model->eval();
  CheckpointInfo adapter_info = info.value_or(CheckpointInfo{"lora", loaded.info.tokenizer_sha256, "", 0, {}, {}});
  if (loaded.pretrained) {
    loaded.prompt_format = adapter_info.extra.is_object()
                               ? adapter_info.extra.value("prompt_format", std::string("auto"))
                               : std::string("auto");
  }
  loaded.info = adapter_info;
  loaded.info.base_dir = base_dir;
  loaded.lora = lora;
  loaded.version = fmt::format("{}:{}@{}", adapter_info.stage, folder_name(dir), adapter_info.step);
  return loaded;
}

}  // namespace medcode::model
