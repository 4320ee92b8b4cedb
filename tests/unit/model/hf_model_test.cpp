// Hugging Face folders loaded as Transformers against PyTorch: the folders and expected logits are written by
// scripts/reference/hf_folders_reference.py (an independent PyTorch forward of Llama, Qwen2 and Mistral with
// biases, explicit head_dim and llama3 rope scaling), compared within float32 tolerances.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medcode/model/hf_model.h"
#include "medcode/model/lora.h"
#include "medcode/model/safetensors.h"
#include "model_test_support.h"
#include "support/medcode_process.h"

namespace medcode::model {
namespace {

using testing::all_close;

// The reference widens BF16/F16 weights to float32 exactly as the loader does, so the float32 forwards
// differ only by float32 rounding through two layers.
constexpr double k_tolerance = 1e-4;

std::filesystem::path hf_fixture(const std::string& name) {
  return medcode::testing::fixture("model/hf/" + name);
}

struct HfCase {
  Transformer model{nullptr};
  std::map<std::string, torch::Tensor> expected;
  torch::Tensor logits(Transformer& with) const {
    return with->forward(expected.at("tokens"), expected.at("positions"), expected.at("key_padding"));
  }
};

HfCase load_case(const std::string& name, torch::ScalarType dtype = torch::kFloat) {
  HfCase hf_case;
  hf_case.model = load_hf_model(hf_fixture(name), torch::kCPU, dtype);
  hf_case.expected = read_safetensors(hf_fixture(name) / "expected.safetensors").tensors;
  return hf_case;
}

class HfGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(HfGolden, LogitsMatchPyTorch) {
  auto hf_case = load_case(GetParam());
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(
      all_close(hf_case.logits(hf_case.model), hf_case.expected.at("logits"), k_tolerance, k_tolerance));
}

TEST_P(HfGolden, KvCacheDecodingEqualsTheFullForward) {
  auto hf_case = load_case(GetParam());
  torch::NoGradGuard no_grad;
  using torch::indexing::Slice;
  const auto& tokens = hf_case.expected.at("tokens");
  const auto& positions = hf_case.expected.at("positions");
  const auto& key_padding = hf_case.expected.at("key_padding");
  auto cache = hf_case.model->make_cache();
  std::vector<torch::Tensor> pieces;
  pieces.push_back(hf_case.model->forward(tokens.index({Slice(), Slice(0, 3)}),
                                          positions.index({Slice(), Slice(0, 3)}),
                                          key_padding.index({Slice(), Slice(0, 3)}), &cache));
  for (std::int64_t t = 3; t < tokens.size(1); ++t) {
    pieces.push_back(hf_case.model->forward(tokens.index({Slice(), Slice(t, t + 1)}),
                                            positions.index({Slice(), Slice(t, t + 1)}),
                                            key_padding.index({Slice(), Slice(0, t + 1)}), &cache));
  }
  auto real = key_padding.logical_not();  // padding queries' outputs depend on the key count: not compared
  EXPECT_TRUE(all_close(torch::cat(pieces, 1).index({real}), hf_case.expected.at("logits").index({real}),
                        k_tolerance, k_tolerance));
}

TEST_P(HfGolden, ParametersAreNamedAndShapedAsTheConfigSays) {
  auto hf_case = load_case(GetParam());
  auto expected = hf_tensor_shapes(hf_case.model->config());
  auto named = hf_case.model->hf_parameters();
  ASSERT_EQ(named.size(), expected.size());
  for (std::size_t i = 0; i < named.size(); ++i) {
    EXPECT_EQ(named[i].first, expected[i].name);
    EXPECT_EQ(named[i].second.sizes().vec(), expected[i].shape) << expected[i].name;
  }
  std::int64_t count = 0;
  for (const auto& [name, tensor] : named) count += tensor.numel();
  EXPECT_EQ(hf_case.model->config().parameter_count(), count);
}

INSTANTIATE_TEST_SUITE_P(HfFoldersAgainstPyTorch, HfGolden,
                         ::testing::Values("llama_tied", "qwen2", "llama_sharded", "llama3_rope", "mistral"));

TEST(HfModel, Llama3RopeScalingChangesTheLogits) {
  auto hf_case = load_case("llama3_rope");
  auto config = hf_case.model->config();
  config.rope_scaling = {};
  Transformer unscaled(config);  // the same weights, rope unscaled
  unscaled->load_hf_state_dict(hf_case.model->hf_state_dict(), "llama3_rope");
  unscaled->eval();
  torch::NoGradGuard no_grad;
  EXPECT_GT(testing::max_abs_difference(hf_case.logits(unscaled), hf_case.expected.at("logits")), 1e-3);
}

TEST(HfModel, LinearRopeScalingEqualsDividedPositions) {
  auto hf_case = load_case("llama_tied");
  auto config = hf_case.model->config();
  config.rope_scaling.type = "linear";
  config.rope_scaling.factor = 4.0;
  Transformer scaled(config);
  scaled->load_hf_state_dict(hf_case.model->hf_state_dict(), "llama_tied");
  scaled->eval();
  torch::NoGradGuard no_grad;
  // positions 0, 4, 8, ... under factor 4 are positions 0, 1, 2, ... unscaled
  auto tokens = hf_case.expected.at("tokens").index({torch::indexing::Slice(0, 1)});
  auto positions = torch::arange(tokens.size(1), torch::kLong).unsqueeze(0);
  EXPECT_TRUE(all_close(scaled->forward(tokens, positions * 4), hf_case.model->forward(tokens, positions),
                        1e-5, 1e-5));
}

TEST(HfModel, Bf16ShardsRunInBf16CloseToPyTorchBf16) {
  auto hf_case = load_case("llama_sharded", torch::kBFloat16);
  EXPECT_EQ(hf_case.model->embed_tokens->weight.scalar_type(), torch::kBFloat16);
  torch::NoGradGuard no_grad;
  auto logits = hf_case.logits(hf_case.model);
  // both sides round every activation to bfloat16 (8 bits of mantissa): logits of size ~0.5 agree to a few
  // bfloat16 steps, not to float32's
  EXPECT_TRUE(all_close(logits, hf_case.expected.at("logits_bf16"), 0.02, 0.02));
  EXPECT_TRUE(all_close(logits, hf_case.expected.at("logits"), 0.05, 0.05));
}

TEST(HfModel, Float32WeightsViewTheMappedFileAndWritesDoNotReachIt) {
  auto path = hf_fixture("llama_tied") / "model.safetensors";
  const auto before = medcode::testing::read_text(path);
  torch::Tensor embed;
  {
    auto mapped = map_safetensors(path);
    auto read = read_safetensors(path);
    ASSERT_EQ(mapped.tensors.size(), read.tensors.size());
    for (const auto& [name, tensor] : read.tensors) {
      EXPECT_TRUE(torch::equal(mapped.tensors.at(name), tensor)) << name;
    }
    EXPECT_EQ(mapped.metadata, read.metadata);
    embed = mapped.tensors.at("model.embed_tokens.weight");
  }
  // the mapping outlives the SafetensorsFile while a tensor views it; a write stays in this process
  auto copy = embed.clone();
  embed.add_(1.0);
  EXPECT_TRUE(torch::equal(embed, copy + 1.0));
  EXPECT_EQ(medcode::testing::read_text(path), before);
}

TEST(HfModel, BiasedLinearsKeepTheirBiasUnderLora) {
  auto hf_case = load_case("qwen2");
  torch::NoGradGuard no_grad;
  auto base_logits = hf_case.logits(hf_case.model);
  auto state = hf_case.model->hf_state_dict();
  EXPECT_TRUE(state.contains("model.layers.0.self_attn.q_proj.bias"));
  EXPECT_FALSE(state.contains("model.layers.0.self_attn.o_proj.bias"));
  LoraConfig lora;
  lora.rank = 4;
  lora.dropout = 0.0;
  lora.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj"};
  apply_lora(hf_case.model, lora);
  hf_case.model->eval();
  // B starts at zero: the adapted model is the base, biases included
  EXPECT_TRUE(all_close(hf_case.logits(hf_case.model), base_logits, 1e-6, 1e-6));
  for (auto& tensor : lora_parameters(hf_case.model)) tensor.normal_(0.0, 0.05);
  auto adapted = hf_case.logits(hf_case.model);
  EXPECT_GT(testing::max_abs_difference(adapted, base_logits), 1e-4);
  merge_lora(hf_case.model);
  EXPECT_TRUE(all_close(hf_case.logits(hf_case.model), adapted, 1e-5, 1e-5));
  // the biases are still exported under their names, unchanged by the merge
  auto merged_state = hf_case.model->hf_state_dict();
  EXPECT_TRUE(torch::equal(merged_state.at("model.layers.1.self_attn.v_proj.bias"),
                           state.at("model.layers.1.self_attn.v_proj.bias")));
}

TEST(HfModel, SequencesLongerThanTheSlidingWindowAreRefused) {
  auto hf_case = load_case("mistral");
  auto config = hf_case.model->config();
  config.sliding_window = 4;
  Transformer windowed(config);
  torch::NoGradGuard no_grad;
  auto tokens = hf_case.expected.at("tokens");
  EXPECT_EQ(windowed->forward(tokens.narrow(1, 0, 4)).size(1), 4);
  auto [code, message] = testing::error_of([&] { windowed->forward(tokens); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("sliding_window 4"), std::string::npos) << message;
}

TEST(HfModel, OtherDtypesAreAUsageError) {
  auto [code, message] =
      testing::error_of([] { load_hf_model(hf_fixture("mistral"), torch::kCPU, torch::kDouble); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("float32"), std::string::npos) << message;
}

}  // namespace
}  // namespace medcode::model
