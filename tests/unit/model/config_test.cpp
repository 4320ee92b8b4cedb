// Model configs: the built-in presets, YAML files, validation, and the HF config.json round trip.
#include <gtest/gtest.h>

#include "medcode/model/config.h"
#include "medcode/util/files.h"
#include "model_test_support.h"
#include "support/medcode_process.h"

namespace medcode::model {
namespace {

using medcode::testing::TempDir;
using testing::error_of;

TEST(ModelConfig, TinyPresetIsWellUnderAMillionParameters) {
  auto config = load_model_config("tiny");
  EXPECT_EQ(config.dim, 64);
  EXPECT_EQ(config.n_layers, 2);
  EXPECT_EQ(config.n_heads, 4);
  EXPECT_EQ(config.n_kv_heads, 2);
  EXPECT_EQ(config.hidden_dim, 172);
  EXPECT_EQ(config.max_seq_len, 128);
  EXPECT_EQ(config.vocab_size, 0);  // from the tokenizer
  config.vocab_size = 1000;
  EXPECT_LT(config.parameter_count(), 1'000'000);
}

TEST(ModelConfig, SmallPresetHasTenToThirtyMillionParametersAtVocab8000) {
  auto config = load_model_config("small");
  config.vocab_size = 8000;
  EXPECT_GE(config.parameter_count(), 10'000'000);
  EXPECT_LE(config.parameter_count(), 30'000'000);
}

TEST(ModelConfig, ParameterCountCountsATiedHeadOnce) {
  auto config = testing::tiny_test_config(/*tied=*/true);
  auto untied = config;
  untied.tie_embeddings = false;
  EXPECT_EQ(untied.parameter_count() - config.parameter_count(), config.vocab_size * config.dim);
}

TEST(ModelConfig, ReadsAYamlFile) {
  TempDir dir;
  util::write_file_atomic(dir / "m.yaml",
                          "vocab_size: 300\ndim: 48\nn_heads: 6\nn_kv_heads: 3\ntie_embeddings: false\n");
  auto config = load_model_config((dir / "m.yaml").string());
  EXPECT_EQ(config.vocab_size, 300);
  EXPECT_EQ(config.dim, 48);
  EXPECT_EQ(config.n_heads, 6);
  EXPECT_EQ(config.n_kv_heads, 3);
  EXPECT_FALSE(config.tie_embeddings);
  EXPECT_EQ(config.n_layers, ModelConfig{}.n_layers);  // unset keys keep their defaults
}

TEST(ModelConfig, UnknownPresetOrKeyIsAUsageError) {
  EXPECT_EQ(error_of([] { load_model_config("huge"); }).first, ExitCode::usage);
  auto [code, message] = error_of([] { parse_model_config("dim: 64\nheads: 4\n", "m.yaml"); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("unknown key `heads`"), std::string::npos) << message;
  EXPECT_EQ(error_of([] { parse_model_config("dim: many\n", "m.yaml"); }).first, ExitCode::usage);
}

TEST(ModelConfig, HeadsMustDivideEvenly) {
  auto [code, message] =
      error_of([] { parse_model_config("n_heads: 6\nn_kv_heads: 4\ndim: 48\n", "m.yaml"); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("n_kv_heads"), std::string::npos) << message;
  std::tie(code, message) =
      error_of([] { parse_model_config("dim: 50\nn_heads: 4\nn_kv_heads: 2\n", "m.yaml"); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("`dim` 50"), std::string::npos) << message;
  EXPECT_EQ(error_of([] { parse_model_config("dim: 36\nn_heads: 12\nn_kv_heads: 4\n", "m.yaml"); }).first,
            ExitCode::usage);  // odd head size: no rotary pairs
}

TEST(ModelConfig, RoundTripsThroughHuggingFaceConfigJson) {
  auto config = testing::tiny_test_config(/*tied=*/false);
  config.rope_theta = 500000.0;
  auto json = config.to_json();
  EXPECT_EQ(json["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(json["model_type"], "llama");
  EXPECT_EQ(json["hidden_size"], config.dim);
  EXPECT_EQ(json["num_key_value_heads"], config.n_kv_heads);
  EXPECT_EQ(json["torch_dtype"], "float32");
  auto back = ModelConfig::from_json(json, "config.json");
  EXPECT_EQ(back.to_json(), json);
}

TEST(ModelConfig, MissingOrMistypedJsonKeyIsBadInputNamingIt) {
  auto json = testing::tiny_test_config().to_json();
  json.erase("intermediate_size");
  auto [code, message] = error_of([&] { ModelConfig::from_json(json, "ckpt/config.json"); });
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(message.find("ckpt/config.json"), std::string::npos) << message;
  EXPECT_NE(message.find("intermediate_size"), std::string::npos) << message;
  json = testing::tiny_test_config().to_json();
  json["hidden_size"] = "wide";
  EXPECT_EQ(error_of([&] { ModelConfig::from_json(json, "config.json"); }).first, ExitCode::bad_input);
}

}  // namespace
}  // namespace medcode::model
