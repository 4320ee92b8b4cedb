// `medcode model export`: a model medcode trained or imported, with a LoRA adapter merged in, written for other
// tools, without LibTorch and one block of rows at a time (memory stays near the size of a few rows whatever the
// model's size):
//   hf    a Hugging Face folder (config.json, generation_config.json, model.safetensors or shards with
//         model.safetensors.index.json, the tokenizer's files) that transformers, vLLM and medcode itself load;
//   gguf  one GGUF v3 file for llama.cpp, LM Studio and Ollama (architecture `llama` or `qwen2`, llama.cpp's tensor
//         names and Q/K row order, the tokenizer and chat template), f32, f16, bf16, q8_0 or q4_k, and a
//         Modelfile beside it for `ollama create`.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medcode/store/database.h"

namespace medcode::model {

struct ExportOptions {
  // A model folder `train` wrote, or a pretrained Hugging Face folder; empty when `adapter` names its base.
  std::filesystem::path base;
  std::optional<std::filesystem::path> adapter;  // a LoRA folder, merged into the base's weights
  std::string format = "gguf";                   // gguf | hf
  std::filesystem::path out;                     // gguf: the .gguf file; hf: the folder
  // gguf: f32 | f16 | bf16 | q8_0 | q4_k (default f16); hf: f32 | f16 | bf16 (default: the base's own)
  std::string dtype;
  std::uint64_t shard_size = 5'000'000'000;  // hf: largest safetensors file before it is split
  std::string name;                          // the model's name in the file (default: the output's)
};

struct ExportedFile {
  std::filesystem::path path;
  std::uint64_t bytes = 0;
  std::string sha256;
};

struct ExportSummary {
  std::string format;
  std::string dtype;
  std::string architecture;  // gguf: llama | qwen2; hf: the config's
  std::string tokenizer;     // gguf: the tokenizer.ggml.model written
  std::filesystem::path base;
  std::optional<std::filesystem::path> adapter;
  std::int64_t tensors = 0;
  std::int64_t parameters = 0;
  // Tensors written in another type than asked, with why (e.g. rows too short for q4_k's blocks).
  std::vector<std::string> notes;
  std::vector<ExportedFile> files;
  double seconds = 0;
};
nlohmann::json to_json(const ExportSummary& summary);

// Error(usage) for a bad combination of options (a quantized type for hf, an output of the wrong kind),
// Error(bad_input) naming the folder and file at fault (no config, an adapter that does not fit the base, a
// tokenizer GGUF cannot hold), Error(storage) when the output cannot be written. Files are written under
// temporary names and renamed when complete; a failed export leaves no partial file.
ExportSummary export_model(const ExportOptions& options);

// Records the export's files in the store (table model_exports), for the report, in one transaction.
void record_export(store::Database& db, const ExportSummary& summary, std::optional<std::int64_t> run_id);

// The base folder a LoRA folder names: its medcode.json's base_dir, else PEFT's base_model_name_or_path when
// that is a folder here; nullopt otherwise.
std::optional<std::filesystem::path> adapter_base_folder(const std::filesystem::path& adapter);

}  // namespace medcode::model
