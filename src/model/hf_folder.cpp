// Inspection of a Hugging Face model folder without LibTorch: config.json through ModelConfig::from_json, the
// weights' names and shapes from the safetensors headers (https://huggingface.co/docs/safetensors) of
// model.safetensors or of the shards model.safetensors.index.json maps
// (https://huggingface.co/docs/transformers/main/en/big_models), and the tokenizer's files.
#include "medcode/model/hf_folder.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <set>

#include "medcode/model/safetensors_header.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"

namespace medcode::model {

namespace {

namespace fs = std::filesystem;

constexpr const char* k_config_file = "config.json";
constexpr const char* k_single_weights = "model.safetensors";
constexpr const char* k_index_file = "model.safetensors.index.json";

nlohmann::json read_json_file(const fs::path& path) {
  try {
    return nlohmann::json::parse(util::read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(ExitCode::bad_input, "{}: not valid JSON: {}", path.string(), e.what());
  }
}

// Every tensor name with the shard that holds it, from the index's weight_map; the shards in name order.
std::map<std::string, fs::path> read_weight_map(const fs::path& dir, std::vector<fs::path>& shards) {
  const fs::path index_path = dir / k_index_file;
  const auto index = read_json_file(index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index.at("weight_map").is_object())
    fail(ExitCode::bad_input, "{}: `weight_map` is missing or not an object", index_path.string());
  std::map<std::string, fs::path> where;
  std::set<std::string> shard_names;
  for (const auto& [tensor, file] : index.at("weight_map").items()) {
    if (!file.is_string())
      fail(ExitCode::bad_input, "{}: weight_map: `{}` maps to {}, not a file name", index_path.string(),
           tensor, file.dump());
    const auto name = file.get<std::string>();
    // a shard is a file of this folder: no path may lead elsewhere
    if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos ||
        name == "." || name == "..") {
      fail(ExitCode::bad_input, "{}: weight_map: `{}` names '{}', not a file of this folder",
           index_path.string(), tensor, name);
    }
    if (!fs::is_regular_file(dir / name))
      fail(ExitCode::bad_input, "{}: weight_map: shard '{}' (of `{}`) does not exist", index_path.string(),
           name, tensor);
    shard_names.insert(name);
    where[tensor] = dir / name;
  }
  if (where.empty()) fail(ExitCode::bad_input, "{}: weight_map is empty", index_path.string());
  for (const auto& name : shard_names) shards.push_back(dir / name);
  return where;
}

// Every tensor of the weight files with its place; a name in two files, or in a shard other than the one
// the index names, is bad input.
std::map<std::string, HfTensorLocation> read_tensor_locations(HfFolder& folder) {
  std::map<std::string, fs::path> weight_map;
  if (fs::exists(folder.dir / k_index_file)) {
    weight_map = read_weight_map(folder.dir, folder.weight_files);
  } else if (fs::is_regular_file(folder.dir / k_single_weights)) {
    folder.weight_files.push_back(folder.dir / k_single_weights);
  } else {
    fail(ExitCode::bad_input, "{}: neither {} nor {} (only safetensors weights are read)",
         folder.dir.string(), k_single_weights, k_index_file);
  }
  std::map<std::string, HfTensorLocation> locations;
  for (const auto& file : folder.weight_files) {
    const auto header = read_safetensors_header(file);
    folder.total_bytes += header.data_offset + header.data_size;
    for (const auto& entry : header.tensors) {
      if (locations.contains(entry.name)) {
        fail(ExitCode::bad_input, "{}: tensor `{}` is also in {}", file.string(), entry.name,
             locations.at(entry.name).file.string());
      }
      locations[entry.name] = {entry.name,
                               file,
                               entry.dtype,
                               entry.shape,
                               header.data_offset + entry.begin,
                               entry.end - entry.begin};
    }
  }
  for (const auto& [tensor, shard] : weight_map) {
    auto found = locations.find(tensor);
    if (found == locations.end() || found->second.file != shard) {
      fail(ExitCode::bad_input, "{}: weight_map puts `{}` in {}, which does not hold it",
           (folder.dir / k_index_file).string(), tensor, shard.filename().string());
    }
  }
  folder.tensor_count = static_cast<std::int64_t>(locations.size());
  return locations;
}

bool is_ignorable(const std::string& name, const ModelConfig& config) {
  if (name.ends_with(".rotary_emb.inv_freq")) return true;  // a derived buffer older checkpoints saved
  return name == "lm_head.weight" && config.tie_embeddings;
}

// The model's weights in order, each checked for presence, shape and dtype; every other tensor is either
// harmless (ignored_tensors) or bad input.
void match_tensors(HfFolder& folder, std::map<std::string, HfTensorLocation> locations) {
  const auto config_path = (folder.dir / k_config_file).string();
  std::set<std::string> dtypes;
  for (const auto& expected : hf_tensor_shapes(folder.config)) {
    auto found = locations.find(expected.name);
    if (found == locations.end()) {
      fail(ExitCode::bad_input, "{}: tensor `{}` is missing (the model {} expects it)", folder.dir.string(),
           expected.name, config_path);
    }
    auto& location = found->second;
    if (location.shape != expected.shape) {
      fail(ExitCode::bad_input, "{}: tensor `{}` has shape [{}], {} implies [{}]", location.file.string(),
           expected.name, fmt::join(location.shape, ", "), config_path, fmt::join(expected.shape, ", "));
    }
    if (location.dtype != "F32" && location.dtype != "F16" && location.dtype != "BF16") {
      fail(ExitCode::bad_input, "{}: tensor `{}` is {}; weights must be F32, F16 or BF16",
           location.file.string(), expected.name, location.dtype);
    }
    dtypes.insert(location.dtype);
    std::int64_t count = 1;
    for (auto extent : location.shape) count *= extent;
    folder.parameter_count += count;
    folder.tensors.push_back(std::move(location));
    locations.erase(found);
  }
  for (const auto& [name, location] : locations) {
    if (!is_ignorable(name, folder.config)) {
      fail(ExitCode::bad_input,
           "{}: tensor `{}` is not used by a {} of this config (num_hidden_layers, attention_bias, mlp_bias "
           "or "
           "tie_word_embeddings differ?)",
           location.file.string(), name, folder.architecture);
    }
    folder.ignored_tensors.push_back(name);
  }
  folder.dtype = dtypes.size() == 1 ? *dtypes.begin() : "mixed";
}

// An AddedToken is written as its text or as {"content": text, ...}.
std::optional<std::string> token_text(const nlohmann::json& json, const char* key, const fs::path& path) {
  if (!json.contains(key) || json.at(key).is_null()) return std::nullopt;
  const auto& token = json.at(key);
  if (token.is_string()) return token.get<std::string>();
  if (token.is_object() && token.contains("content") && token.at("content").is_string())
    return token.at("content").get<std::string>();
  fail(ExitCode::bad_input, "{}: `{}` is neither a token nor {{\"content\": ...}} ({})", path.string(), key,
       token.dump());
}

void read_chat_templates(HfFolder& folder, const nlohmann::json& tokenizer_config, const fs::path& path) {
  if (tokenizer_config.contains("chat_template") && !tokenizer_config.at("chat_template").is_null()) {
    const auto& templates = tokenizer_config.at("chat_template");
    if (templates.is_string()) {
      folder.chat_template = templates.get<std::string>();
    } else if (templates.is_array()) {
      for (const auto& entry : templates) {
        if (!entry.is_object() || !entry.contains("name") || !entry.at("name").is_string() ||
            !entry.contains("template") || !entry.at("template").is_string()) {
          fail(ExitCode::bad_input, "{}: chat_template: an entry is not {{name, template}} ({})",
               path.string(), entry.dump());
        }
        folder.chat_templates[entry.at("name").get<std::string>()] = entry.at("template").get<std::string>();
      }
      if (folder.chat_templates.contains("default"))
        folder.chat_template = folder.chat_templates.at("default");
    } else {
      fail(ExitCode::bad_input, "{}: chat_template is neither a string nor a list", path.string());
    }
  }
  // newer transformers save the template beside the config instead, and read it in preference
  if (fs::is_regular_file(folder.dir / "chat_template.jinja"))
    folder.chat_template = util::read_file(folder.dir / "chat_template.jinja");
}

void read_tokenizer_files(HfFolder& folder) {
  if (fs::is_regular_file(folder.dir / "tokenizer.json")) {
    folder.tokenizer_kind = "tokenizer.json";
  } else if (fs::is_regular_file(folder.dir / "tokenizer.model")) {
    folder.tokenizer_kind = "tokenizer.model";
  }
  const fs::path path = folder.dir / "tokenizer_config.json";
  if (fs::is_regular_file(path)) {
    const auto tokenizer_config = read_json_file(path);
    if (!tokenizer_config.is_object()) fail(ExitCode::bad_input, "{}: not a JSON object", path.string());
    read_chat_templates(folder, tokenizer_config, path);
    folder.bos_token = token_text(tokenizer_config, "bos_token", path);
    folder.eos_token = token_text(tokenizer_config, "eos_token", path);
  }
}

void read_generation_config(HfFolder& folder) {
  folder.eos_token_ids = folder.config.eos_token_ids;
  const fs::path path = folder.dir / "generation_config.json";
  if (!fs::is_regular_file(path)) return;
  folder.generation_config = read_json_file(path);
  if (!folder.generation_config.is_object())
    fail(ExitCode::bad_input, "{}: not a JSON object", path.string());
  if (!folder.generation_config.contains("eos_token_id") ||
      folder.generation_config["eos_token_id"].is_null())
    return;
  const auto& eos = folder.generation_config["eos_token_id"];
  if (eos.is_number_integer()) {
    folder.eos_token_ids = {eos.get<std::int64_t>()};
  } else if (eos.is_array() &&
             std::all_of(eos.begin(), eos.end(), [](const auto& id) { return id.is_number_integer(); })) {
    folder.eos_token_ids = eos.get<std::vector<std::int64_t>>();
  } else {
    fail(ExitCode::bad_input, "{}: `eos_token_id` is neither a token id nor a list of them ({})",
         path.string(), eos.dump());
  }
}

}  // namespace

HfFolder inspect_hf_folder(const std::filesystem::path& dir) {
  if (!fs::is_directory(dir)) fail(ExitCode::bad_input, "{}: not a folder", dir.string());
  HfFolder folder;
  folder.dir = dir;
  const fs::path config_path = dir / k_config_file;
  if (!fs::is_regular_file(config_path))
    fail(ExitCode::bad_input, "{}: no {} (not a Hugging Face model folder?)", dir.string(), k_config_file);
  folder.config_json = read_json_file(config_path);
  folder.config = ModelConfig::from_json(folder.config_json, config_path.string());
  folder.architecture = folder.config.architecture;
  match_tensors(folder, read_tensor_locations(folder));
  if (!folder.ignored_tensors.empty()) {
    spdlog::debug("{}: ignoring {} unused tensors ({})", dir.string(), folder.ignored_tensors.size(),
                  fmt::join(folder.ignored_tensors, ", "));
  }
  read_tokenizer_files(folder);
  read_generation_config(folder);
  return folder;
}

}  // namespace medcode::model
