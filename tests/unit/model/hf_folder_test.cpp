// inspect_hf_folder on the golden folders (tests/fixtures/model/hf, see
// scripts/reference/hf_folders_reference.py) and on broken copies of them: every broken input is bad_input
// naming the file and the key, tensor or shapes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "medcode/model/hf_folder.h"
#include "medcode/model/safetensors.h"
#include "model_test_support.h"
#include "support/medcode_process.h"

namespace medcode::model {
namespace {

namespace fs = std::filesystem;
using testing::error_of;

fs::path hf_fixture(const std::string& name) { return medcode::testing::fixture("model/hf/" + name); }

// A writable copy of a golden folder.
fs::path copy_of(const std::string& name, const medcode::testing::TempDir& temp) {
  const fs::path dir = temp / name;
  fs::copy(hf_fixture(name), dir, fs::copy_options::recursive);
  return dir;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

nlohmann::json read_json(const fs::path& path) {
  return nlohmann::json::parse(medcode::testing::read_text(path));
}

// The bad_input error of inspecting `dir`, which must name every one of `parts`.
void expect_bad_input_naming(const fs::path& dir, const std::vector<std::string>& parts) {
  auto [code, message] = error_of([&] { inspect_hf_folder(dir); });
  EXPECT_EQ(code, ExitCode::bad_input) << message;
  for (const auto& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

TEST(HfFolder, InspectsATiedLlamaFolder) {
  auto folder = inspect_hf_folder(hf_fixture("llama_tied"));
  EXPECT_EQ(folder.architecture, "LlamaForCausalLM");
  EXPECT_EQ(folder.dtype, "F32");
  EXPECT_TRUE(folder.config.tie_embeddings);
  EXPECT_EQ(folder.config.vocab_size, 256);
  EXPECT_EQ(folder.config.rope_theta, 100000.0);
  EXPECT_EQ(folder.weight_files, std::vector<fs::path>{hf_fixture("llama_tied") / "model.safetensors"});
  EXPECT_EQ(folder.tensor_count, 2 + 2 * 9);  // embed, final norm; per layer 2 norms and 7 linears
  EXPECT_EQ(folder.parameter_count, folder.config.parameter_count());
  EXPECT_EQ(folder.total_bytes, fs::file_size(hf_fixture("llama_tied") / "model.safetensors"));
  EXPECT_EQ(folder.tensors.size(), hf_tensor_shapes(folder.config).size());
  EXPECT_EQ(folder.tokenizer_kind, "");
  ASSERT_TRUE(folder.chat_template.has_value());
  EXPECT_NE(folder.chat_template->find("messages"), std::string::npos);
  EXPECT_EQ(folder.bos_token, std::optional<std::string>("<|im_start|>"));
  EXPECT_EQ(folder.eos_token, std::optional<std::string>("<|im_end|>"));
  EXPECT_EQ(folder.eos_token_ids, std::vector<std::int64_t>{2});
  EXPECT_EQ(folder.config.bos_token_id, std::optional<std::int64_t>(1));
}

TEST(HfFolder, InspectsAQwen2FolderWithBiasesAndTemplateList) {
  auto folder = inspect_hf_folder(hf_fixture("qwen2"));
  EXPECT_EQ(folder.architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(folder.config.model_type(), "qwen2");
  EXPECT_EQ(folder.dtype, "F16");
  EXPECT_TRUE(folder.config.qkv_bias);
  EXPECT_FALSE(folder.config.o_bias);
  EXPECT_EQ(folder.config.sliding_window, 0);  // use_sliding_window is false
  EXPECT_EQ(folder.config.norm_eps, 1e-6);
  EXPECT_EQ(folder.tensor_count, 3 + 2 * 12);  // embed, norm, lm_head; per layer 2 norms, 7 linears, 3 biases
  EXPECT_EQ(folder.chat_templates.size(), 2U);
  EXPECT_EQ(folder.chat_template, std::optional<std::string>("{{ messages[0]['content'] }}"));
  EXPECT_EQ(folder.chat_templates.at("tool_use"), "{{ tools }}");
  EXPECT_FALSE(folder.bos_token.has_value());
  EXPECT_EQ(folder.eos_token, std::optional<std::string>("<|endoftext|>"));
  EXPECT_EQ(folder.eos_token_ids, (std::vector<std::int64_t>{2, 3}));  // generation_config's list
  EXPECT_EQ(folder.generation_config.at("temperature"), 0.7);
}

TEST(HfFolder, ChatTemplateJinjaTakesPrecedence) {
  medcode::testing::TempDir temp;
  auto dir = copy_of("qwen2", temp);
  write_text(dir / "chat_template.jinja", "{{ bos_token }}");
  auto folder = inspect_hf_folder(dir);
  EXPECT_EQ(folder.chat_template, std::optional<std::string>("{{ bos_token }}"));
  EXPECT_EQ(folder.chat_templates.size(), 2U);
}

TEST(HfFolder, InspectsShardsLlama3ScalingAndMistral) {
  auto sharded = inspect_hf_folder(hf_fixture("llama_sharded"));
  EXPECT_EQ(sharded.weight_files.size(), 2U);
  EXPECT_EQ(sharded.dtype, "BF16");
  EXPECT_EQ(sharded.config.torch_dtype, "bfloat16");
  EXPECT_EQ(sharded.total_bytes,
            fs::file_size(sharded.weight_files[0]) + fs::file_size(sharded.weight_files[1]));
  EXPECT_EQ(sharded.generation_config, nullptr);

  auto scaled = inspect_hf_folder(hf_fixture("llama3_rope"));
  EXPECT_EQ(scaled.config.rope_scaling.type, "llama3");
  EXPECT_EQ(scaled.config.rope_scaling.factor, 8.0);
  EXPECT_EQ(scaled.config.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_EQ(scaled.config.head_dim(), 16);  // explicit, not 32 / 4
  EXPECT_TRUE(scaled.config.qkv_bias && scaled.config.o_bias && scaled.config.mlp_bias);

  auto mistral = inspect_hf_folder(hf_fixture("mistral"));
  EXPECT_EQ(mistral.architecture, "MistralForCausalLM");
  EXPECT_EQ(mistral.config.sliding_window, 4096);
  EXPECT_FALSE(mistral.config.qkv_bias);
}

TEST(HfFolder, ConfigsRoundTripThroughToJson) {
  for (const auto* name : {"llama_tied", "qwen2", "llama_sharded", "llama3_rope", "mistral"}) {
    auto config = ModelConfig::from_json(read_json(hf_fixture(name) / "config.json"), name);
    auto again = ModelConfig::from_json(config.to_json(), name);
    EXPECT_EQ(again.to_json(), config.to_json()) << name;
    EXPECT_EQ(hf_tensor_shapes(again).size(), hf_tensor_shapes(config).size()) << name;
  }
}

TEST(HfFolder, OmittedKeysTakeTransformersDefaults) {
  nlohmann::json json = {
      {"model_type", "qwen2"},          {"vocab_size", 100},      {"hidden_size", 32},
      {"intermediate_size", 64},        {"num_hidden_layers", 1}, {"num_attention_heads", 4},
      {"num_key_value_heads", nullptr}, {"eos_token_id", {7, 8}}};
  auto config = ModelConfig::from_json(json, "config.json");
  EXPECT_EQ(config.architecture, "Qwen2ForCausalLM");  // from model_type when architectures is absent
  EXPECT_EQ(config.n_kv_heads, 4);
  EXPECT_EQ(config.max_seq_len, 32768);
  EXPECT_EQ(config.norm_eps, 1e-6);
  EXPECT_EQ(config.rope_theta, 10000.0);
  EXPECT_FALSE(config.tie_embeddings);
  EXPECT_TRUE(config.qkv_bias);
  EXPECT_EQ(config.eos_token_ids, (std::vector<std::int64_t>{7, 8}));
  json["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};  // the older key
  EXPECT_EQ(ModelConfig::from_json(json, "config.json").rope_scaling.type, "linear");
}

TEST(HfFolder, UnknownArchitectureIsBadInputNamingFileAndKey) {
  medcode::testing::TempDir temp;
  auto dir = copy_of("llama_tied", temp);
  auto config = read_json(dir / "config.json");
  config["architectures"] = {"GPTNeoXForCausalLM"};
  write_text(dir / "config.json", config.dump());
  expect_bad_input_naming(dir, {"config.json", "architectures", "GPTNeoXForCausalLM", "Qwen2ForCausalLM"});
}

TEST(HfFolder, UnsupportedRopeScalingAndActivationAreBadInput) {
  medcode::testing::TempDir temp;
  auto dir = copy_of("llama3_rope", temp);
  auto config = read_json(dir / "config.json");
  config["rope_scaling"]["rope_type"] = "yarn";
  write_text(dir / "config.json", config.dump());
  expect_bad_input_naming(dir, {"config.json", "rope_scaling", "yarn"});
  config = read_json(hf_fixture("llama3_rope") / "config.json");
  config["hidden_act"] = "gelu";
  write_text(dir / "config.json", config.dump());
  expect_bad_input_naming(dir, {"config.json", "hidden_act", "gelu"});
}

TEST(HfFolder, MissingTensorIsBadInputNamingIt) {
  medcode::testing::TempDir temp;
  auto dir = copy_of("qwen2", temp);
  auto weights = read_safetensors(dir / "model.safetensors");
  weights.tensors.erase("model.layers.1.self_attn.k_proj.bias");
  write_safetensors(dir / "model.safetensors", weights.tensors);
  expect_bad_input_naming(dir, {"model.layers.1.self_attn.k_proj.bias", "missing"});
}

TEST(HfFolder, WrongShapeIsBadInputNamingTensorAndBothShapes) {
  medcode::testing::TempDir temp;
  auto dir = copy_of("llama_tied", temp);
  auto weights = read_safetensors(dir / "model.safetensors");
  weights.tensors["model.layers.0.mlp.up_proj.weight"] = torch::zeros({48, 32});
  write_safetensors(dir / "model.safetensors", weights.tensors);
  expect_bad_input_naming(dir,
                          {"model.safetensors", "model.layers.0.mlp.up_proj.weight", "[48, 32]", "[64, 32]"});
}

TEST(HfFolder, UnusedTensorIsBadInputButRotaryBuffersAndATiedHeadAreIgnored) {
  medcode::testing::TempDir temp;
  auto dir = copy_of("llama_tied", temp);
  auto weights = read_safetensors(dir / "model.safetensors");
  auto original = weights.tensors;
  weights.tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch::ones({4});
  weights.tensors["lm_head.weight"] = weights.tensors.at("model.embed_tokens.weight");
  write_safetensors(dir / "model.safetensors", weights.tensors);
  auto folder = inspect_hf_folder(dir);
  EXPECT_EQ(folder.ignored_tensors.size(), 2U);
  weights.tensors["model.layers.2.mlp.up_proj.weight"] = torch::zeros({64, 32});  // a third layer
  write_safetensors(dir / "model.safetensors", weights.tensors);
  expect_bad_input_naming(dir, {"model.layers.2.mlp.up_proj.weight", "not used"});
  original["model.layers.0.self_attn.o_proj.bias"] = torch::zeros({32});  // a bias the config does not have
  write_safetensors(dir / "model.safetensors", original);
  expect_bad_input_naming(dir, {"model.layers.0.self_attn.o_proj.bias"});
}

TEST(HfFolder, BadIndexIsBadInputNamingIt) {
  medcode::testing::TempDir temp;
  auto dir = copy_of("llama_sharded", temp);
  const auto index_path = dir / "model.safetensors.index.json";
  const auto index = read_json(index_path);

  write_text(index_path, "{\"weight_map\": ");
  expect_bad_input_naming(dir, {"model.safetensors.index.json", "JSON"});

  write_text(index_path, R"({"metadata": {}})");
  expect_bad_input_naming(dir, {"model.safetensors.index.json", "weight_map"});

  auto missing_shard = index;
  missing_shard["weight_map"]["model.norm.weight"] = "model-00003-of-00003.safetensors";
  write_text(index_path, missing_shard.dump());
  expect_bad_input_naming(
      dir, {"model.safetensors.index.json", "model-00003-of-00003.safetensors", "model.norm.weight"});

  auto escaping = index;
  escaping["weight_map"]["model.norm.weight"] = "../llama_tied/model.safetensors";
  write_text(index_path, escaping.dump());
  expect_bad_input_naming(dir, {"model.safetensors.index.json", "../llama_tied/model.safetensors"});

  auto wrong_shard = index;
  const std::string moved = "model.embed_tokens.weight";
  const std::string other = wrong_shard["weight_map"][moved] == "model-00001-of-00002.safetensors"
                                ? "model-00002-of-00002.safetensors"
                                : "model-00001-of-00002.safetensors";
  wrong_shard["weight_map"][moved] = other;
  write_text(index_path, wrong_shard.dump());
  expect_bad_input_naming(dir, {"model.safetensors.index.json", moved, other});
}

TEST(HfFolder, TruncatedSafetensorsIsBadInputNamingTheFile) {
  medcode::testing::TempDir temp;
  auto dir = copy_of("llama_tied", temp);
  const auto path = dir / "model.safetensors";
  fs::resize_file(path, fs::file_size(path) - 100);
  expect_bad_input_naming(dir, {path.string(), "truncated"});
  fs::resize_file(path, 20);  // inside the header
  expect_bad_input_naming(dir, {path.string(), "header"});
}

TEST(HfFolder, NoWeightsOrNoConfigIsBadInput) {
  medcode::testing::TempDir temp;
  auto dir = copy_of("mistral", temp);
  fs::remove(dir / "model.safetensors");
  expect_bad_input_naming(dir, {"model.safetensors"});
  fs::remove(dir / "config.json");
  expect_bad_input_naming(dir, {"config.json"});
}

}  // namespace
}  // namespace medcode::model
