// Pretrained bases in the store: `medcode model import DIR` checks a Hugging Face folder (config, weights'
// headers, tokenizer, chat format) without LibTorch and records it under a name that `train --base` and
// `predict --base` accept in place of the folder.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medcode/store/database.h"

namespace medcode::model {

struct BaseModelImportOptions {
  std::filesystem::path dir;
  std::string name;                   // "": the folder's name
  std::string prompt_format = "auto";  // or a chat family that overrides the folder's template
  std::optional<std::int64_t> run_id;
};

struct BaseModel {
  std::string name;
  std::filesystem::path dir;
  std::string architecture;
  std::string chat_format;
  std::string tokenizer;  // tokenizer.json | tokenizer.model
  std::int64_t vocab_size = 0;
  std::int64_t tokenizer_vocab_size = 0;
  std::int64_t parameters = 0;
  std::uint64_t weight_bytes = 0;
  std::string dtype;
  std::int64_t layers = 0;
  std::int64_t hidden_size = 0;
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;
  std::string config_sha256;
  std::string tokenizer_sha256;
  std::string imported_at;
  bool replaced = false;  // a base of that name was there before
};

// Checks the folder (inspect_hf_folder, the tokenizer loads and fits the embedding, the chat template is of a
// known family) and records it, replacing a base of the same name. Error(bad_input) naming the file and key at
// fault; nothing is written then.
BaseModel import_base_model(store::Database& db, const BaseModelImportOptions& options);
std::vector<BaseModel> list_base_models(store::Database& db);
std::optional<BaseModel> find_base_model(store::Database& db, const std::string& name);
// Removes a base from the store (never its folder); false when there was none of that name.
bool remove_base_model(store::Database& db, const std::string& name);

// A --base argument: a folder holding config.json, else the name of an imported base, whose folder must still
// hold the config it was imported with. Error(usage) when it is neither; Error(bad_input) when the folder has
// changed since the import (import it again).
std::filesystem::path resolve_base(store::Database& db, const std::string& name_or_dir);

nlohmann::json to_json(const BaseModel& base);

}  // namespace medcode::model
