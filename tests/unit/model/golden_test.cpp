// The transformer against PyTorch: weights, inputs and expected outputs written by
// scripts/reference/llama_reference.py (an independent PyTorch Llama), compared within float32 tolerances.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "medcode/model/lora.h"
#include "medcode/model/safetensors.h"
#include "medcode/model/transformer.h"
#include "model_test_support.h"
#include "support/medcode_process.h"

namespace medcode::model {
namespace {

using testing::all_close;

// float32 through two layers: PyTorch and LibTorch agree to a few ulps; 1e-5 leaves a margin.
constexpr double k_rtol = 1e-5;
constexpr double k_atol = 1e-5;
// Gradients are small (1e-3 to 1e-6): compared relative to their size with a tighter floor.
constexpr double k_grad_rtol = 1e-4;
constexpr double k_grad_atol = 1e-7;

std::filesystem::path golden(const std::string& relative) {
  return medcode::testing::fixture("model/golden/" + relative);
}

struct GoldenCase {
  Transformer model{nullptr};
  std::map<std::string, torch::Tensor> expected;
  torch::Tensor tokens, key_padding, positions, targets;
};

GoldenCase load_case(const std::string& name) {
  GoldenCase golden_case;
  auto config_json = nlohmann::json::parse(medcode::testing::read_text(golden(name + "/config.json")));
  golden_case.model = Transformer(ModelConfig::from_json(config_json, name + "/config.json"));
  auto weights = golden(name + "/weights.safetensors");
  golden_case.model->load_hf_state_dict(read_safetensors(weights).tensors, weights.string());
  golden_case.model->eval();
  golden_case.expected = read_safetensors(golden(name + "/expected.safetensors")).tensors;
  golden_case.tokens = golden_case.expected.at("tokens");
  golden_case.key_padding = golden_case.expected.at("key_padding");
  golden_case.positions = golden_case.expected.at("positions");
  golden_case.targets = golden_case.expected.at("targets");
  return golden_case;
}

torch::Tensor loss_of(const torch::Tensor& logits, const torch::Tensor& targets) {
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

// Our parameter of a Hugging Face name ("model.layers.0..." → "layers.0...").
torch::Tensor parameter(const Transformer& model, const std::string& hf_name) {
  const std::string prefix = "model.";
  auto name = hf_name.starts_with(prefix) ? hf_name.substr(prefix.size()) : hf_name;
  return model->named_parameters()[name];
}

std::vector<std::string> checked_names(const GoldenCase& golden_case, const std::string& kind) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : golden_case.expected) {
    if (name.starts_with(kind + ".")) names.push_back(name.substr(kind.size() + 1));
  }
  return names;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, LogitsAndLossMatchPyTorch) {
  auto golden_case = load_case(GetParam());
  torch::NoGradGuard no_grad;
  auto logits =
      golden_case.model->forward(golden_case.tokens, golden_case.positions, golden_case.key_padding);
  EXPECT_TRUE(all_close(logits, golden_case.expected.at("logits"), k_rtol, k_atol));
  EXPECT_TRUE(all_close(loss_of(logits, golden_case.targets), golden_case.expected.at("loss").squeeze(),
                        k_rtol, k_atol));
}

TEST_P(Golden, LeftPaddedRowEqualsTheSameTokensUnpadded) {
  auto golden_case = load_case(GetParam());
  torch::NoGradGuard no_grad;
  // row 1 has two padding tokens in front; alone and unpadded it must give the same logits
  auto row = golden_case.tokens.index(
      {torch::indexing::Slice(1, 2), torch::indexing::Slice(2, torch::indexing::None)});
  auto alone = golden_case.model->forward(row);
  auto expected = golden_case.expected.at("logits").index(
      {torch::indexing::Slice(1, 2), torch::indexing::Slice(2, torch::indexing::None)});
  EXPECT_TRUE(all_close(alone, expected, k_rtol, k_atol));
}

TEST_P(Golden, KvCacheDecodingEqualsTheFullForward) {
  auto golden_case = load_case(GetParam());
  torch::NoGradGuard no_grad;
  using torch::indexing::Slice;
  auto cache = golden_case.model->make_cache();
  const auto T = golden_case.tokens.size(1);
  // a prompt of three tokens, then one token at a time
  std::vector<torch::Tensor> pieces;
  pieces.push_back(golden_case.model->forward(golden_case.tokens.index({Slice(), Slice(0, 3)}),
                                              golden_case.positions.index({Slice(), Slice(0, 3)}),
                                              golden_case.key_padding.index({Slice(), Slice(0, 3)}), &cache));
  for (std::int64_t t = 3; t < T; ++t) {
    pieces.push_back(golden_case.model->forward(golden_case.tokens.index({Slice(), Slice(t, t + 1)}),
                                                golden_case.positions.index({Slice(), Slice(t, t + 1)}),
                                                golden_case.key_padding.index({Slice(), Slice(0, t + 1)}),
                                                &cache));
  }
  EXPECT_EQ(cache.length, T);
  EXPECT_EQ(cache.keys[0].sizes(), (std::vector<std::int64_t>{2, 2, T, 8}));
  // padding queries see no key: their (meaningless) outputs depend on how many keys there are, so only the
  // real tokens' logits are compared
  auto real = golden_case.key_padding.logical_not();  // (B, T)
  auto decoded = torch::cat(pieces, 1).index({real});
  EXPECT_TRUE(all_close(decoded, golden_case.expected.at("logits").index({real}), k_rtol, k_atol));
}

TEST_P(Golden, KvCacheRowsFollowSelectRows) {
  auto golden_case = load_case(GetParam());
  torch::NoGradGuard no_grad;
  using torch::indexing::Slice;
  auto swap = torch::tensor({1, 0}, torch::kLong);
  auto cache = golden_case.model->make_cache();
  golden_case.model->forward(golden_case.tokens.index({Slice(), Slice(0, 6)}),
                             golden_case.positions.index({Slice(), Slice(0, 6)}),
                             golden_case.key_padding.index({Slice(), Slice(0, 6)}), &cache);
  cache.select_rows(swap);
  auto last =
      golden_case.model->forward(golden_case.tokens.index({Slice(), Slice(6, 7)}).index_select(0, swap),
                                 golden_case.positions.index({Slice(), Slice(6, 7)}).index_select(0, swap),
                                 golden_case.key_padding.index_select(0, swap), &cache);
  auto expected = golden_case.expected.at("logits").index({Slice(), Slice(6, 7)}).index_select(0, swap);
  EXPECT_TRUE(all_close(last, expected, k_rtol, k_atol));
}

TEST_P(Golden, GradientsAndOneAdamWStepMatchPyTorch) {
  auto golden_case = load_case(GetParam());
  auto& model = golden_case.model;
  auto logits = model->forward(golden_case.tokens, golden_case.positions, golden_case.key_padding);
  loss_of(logits, golden_case.targets).backward();
  auto grads = checked_names(golden_case, "grad");
  ASSERT_GE(grads.size(), 5U);
  for (const auto& name : grads) {
    EXPECT_TRUE(all_close(parameter(model, name).grad(), golden_case.expected.at("grad." + name), k_grad_rtol,
                          k_grad_atol))
        << name;
  }
  torch::optim::AdamW optimizer(
      model->parameters(), torch::optim::AdamWOptions(1e-3).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1));
  optimizer.step();
  for (const auto& name : checked_names(golden_case, "updated")) {
    EXPECT_TRUE(all_close(parameter(model, name), golden_case.expected.at("updated." + name), k_rtol, k_atol))
        << name;
  }
}

INSTANTIATE_TEST_SUITE_P(TransformerAgainstPyTorch, Golden, ::testing::Values("untied", "tied"));

// The LoRA case: PEFT's adapter folder on the untied base, with non-zero lora_B.
struct LoraCase {
  GoldenCase base;
  LoraConfig lora;
  std::map<std::string, torch::Tensor> expected;
};

LoraCase load_lora_case() {
  LoraCase lora_case{load_case("untied"), {}, {}};
  auto adapter_config =
      nlohmann::json::parse(medcode::testing::read_text(golden("lora/adapter_config.json")));
  lora_case.lora.rank = adapter_config.at("r").get<std::int64_t>();
  lora_case.lora.alpha = adapter_config.at("lora_alpha").get<double>();
  lora_case.lora.dropout = 0.0;
  lora_case.lora.target_modules = adapter_config.at("target_modules").get<std::vector<std::string>>();
  apply_lora(lora_case.base.model, lora_case.lora);
  auto adapters = golden("lora/adapter_model.safetensors");
  load_lora_state_dict(lora_case.base.model, read_safetensors(adapters).tensors, adapters.string());
  lora_case.expected = read_safetensors(golden("lora/expected.safetensors")).tensors;
  return lora_case;
}

TEST(GoldenLora, AdaptedLogitsMatchPyTorchMergedOrNot) {
  auto lora_case = load_lora_case();
  auto& golden_case = lora_case.base;
  torch::NoGradGuard no_grad;
  auto logits =
      golden_case.model->forward(golden_case.tokens, golden_case.positions, golden_case.key_padding);
  EXPECT_TRUE(all_close(logits, lora_case.expected.at("logits"), k_rtol, k_atol));
  // the adapters matter: the base alone gives other logits
  EXPECT_GT(testing::max_abs_difference(logits, golden_case.expected.at("logits")), 1e-3);
  merge_lora(golden_case.model);
  auto merged =
      golden_case.model->forward(golden_case.tokens, golden_case.positions, golden_case.key_padding);
  EXPECT_TRUE(all_close(merged, lora_case.expected.at("logits"), k_rtol, k_atol));
}

TEST(GoldenLora, AdapterGradientsMatchPyTorch) {
  auto lora_case = load_lora_case();
  auto& golden_case = lora_case.base;
  auto logits =
      golden_case.model->forward(golden_case.tokens, golden_case.positions, golden_case.key_padding);
  auto loss = loss_of(logits, golden_case.targets);
  EXPECT_TRUE(all_close(loss, lora_case.expected.at("loss").squeeze(), k_rtol, k_atol));
  loss.backward();
  auto parameters = golden_case.model->named_parameters();
  const std::string peft_prefix = "base_model.model.model.";
  std::size_t checked = 0;
  for (const auto& [name, tensor] : lora_state_dict(golden_case.model)) {
    (void)tensor;
    // PEFT's "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" is our "layers.0...lora_A"
    auto ours =
        name.substr(peft_prefix.size(), name.size() - peft_prefix.size() - std::string(".weight").size());
    EXPECT_TRUE(
        all_close(parameters[ours].grad(), lora_case.expected.at("grad." + name), k_grad_rtol, k_grad_atol))
        << name;
    ++checked;
  }
  EXPECT_EQ(checked, 8U);  // A and B of q_proj and v_proj in two layers
}

}  // namespace
}  // namespace medcode::model
