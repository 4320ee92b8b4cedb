// LoRA: starts as the base model, merges and unmerges exactly, trains only the adapters, uses PEFT's names.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medcode/model/lora.h"
#include "model_test_support.h"

namespace medcode::model {
namespace {

using testing::all_close;
using testing::error_of;
using testing::tiny_test_config;

Transformer make_model(std::uint64_t seed = 1) {
  torch::manual_seed(seed);
  Transformer model(tiny_test_config(/*tied=*/false));
  model->eval();
  return model;
}

LoraConfig lora_config(std::vector<std::string> targets = {"q_proj", "v_proj"}) {
  LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 8;
  lora.dropout = 0.0;
  lora.target_modules = std::move(targets);
  return lora;
}

// Gives every lora_B random values, so that the adapters change the output.
void randomize_adapters(Transformer& model) {
  torch::NoGradGuard no_grad;
  for (auto& parameter : lora_parameters(model)) parameter.normal_(0.0, 0.1);
}

torch::Tensor sample_tokens() { return torch::randint(tiny_test_config().vocab_size, {2, 5}, torch::kLong); }

TEST(Lora, OutputEqualsTheBaseModelAtInitialisation) {
  auto model = make_model();
  auto tokens = sample_tokens();
  torch::NoGradGuard no_grad;
  auto base = model->forward(tokens);
  apply_lora(model,
             lora_config({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
  EXPECT_TRUE(model->forward(tokens).equal(base));
}

TEST(Lora, MergedForwardEqualsUnmergedAndUnmergeRestoresTheWeights) {
  auto model = make_model();
  auto base_weights = model->hf_state_dict();
  apply_lora(model, lora_config({"q_proj", "v_proj", "down_proj"}));
  randomize_adapters(model);
  auto tokens = sample_tokens();
  torch::NoGradGuard no_grad;
  auto unmerged = model->forward(tokens);
  EXPECT_GT(testing::max_abs_difference(unmerged, make_model()->forward(tokens)),
            1e-4);  // the adapters count

  merge_lora(model);
  EXPECT_TRUE(all_close(model->forward(tokens), unmerged, 1e-5, 1e-6));
  EXPECT_FALSE(model->hf_state_dict()
                   .at("model.layers.0.self_attn.q_proj.weight")
                   .equal(base_weights.at("model.layers.0.self_attn.q_proj.weight")));
  merge_lora(model);  // a second merge does nothing
  EXPECT_TRUE(all_close(model->forward(tokens), unmerged, 1e-5, 1e-6));

  unmerge_lora(model);
  for (const auto& [name, weight] : model->hf_state_dict()) {
    EXPECT_TRUE(weight.equal(base_weights.at(name))) << name << " is not the base's bit for bit";
  }
  EXPECT_TRUE(all_close(model->forward(tokens), unmerged, 1e-5, 1e-6));
}

TEST(Lora, AMergeForGoodCannotBeUndone) {
  auto model = make_model();
  apply_lora(model, lora_config({"q_proj"}));
  randomize_adapters(model);
  merge_lora(model, /*restorable=*/false);
  try {
    unmerge_lora(model);
    FAIL() << "unmerge after a merge for good";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::usage);
  }
}

TEST(Lora, OnlyTheAdaptersRequireGradients) {
  auto model = make_model();
  apply_lora(model, lora_config());
  std::size_t trainable = 0;
  for (const auto& item : model->named_parameters()) {
    const bool is_adapter = item.key().find("lora_") != std::string::npos;
    EXPECT_EQ(item.value().requires_grad(), is_adapter) << item.key();
    trainable += item.value().requires_grad() ? 1 : 0;
  }
  EXPECT_EQ(trainable, lora_parameters(model).size());
  EXPECT_EQ(trainable, 2U * 2U * 2U);  // A and B, q and v, two layers

  // one backward gives the adapters gradients and the frozen base none
  auto tokens = sample_tokens();
  model->forward(tokens).sum().backward();
  for (const auto& parameter : lora_parameters(model)) EXPECT_TRUE(parameter.grad().defined());
  EXPECT_FALSE(model->embed_tokens->weight.grad().defined());
}

TEST(Lora, AdapterShapesAndInitialisationFollowPeft) {
  auto model = make_model();
  auto lora = lora_config();
  apply_lora(model, lora);
  auto adapters = lora_state_dict(model);
  ASSERT_EQ(adapters.size(), 8U);
  const auto config = model->config();
  const auto& a = adapters.at("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  const auto& b = adapters.at("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
  EXPECT_EQ(a.sizes(), (std::vector<std::int64_t>{lora.rank, config.dim}));
  EXPECT_EQ(b.sizes(), (std::vector<std::int64_t>{config.n_kv_heads * config.head_dim(), lora.rank}));
  EXPECT_TRUE(b.eq(0).all().item<bool>());
  // kaiming uniform with a = sqrt(5): bound 1 / sqrt(fan_in)
  EXPECT_LE(a.abs().max().item<double>(), 1.0 / std::sqrt(static_cast<double>(config.dim)) + 1e-6);
  EXPECT_GT(a.abs().max().item<double>(), 0.0);
}

TEST(Lora, MlpAdaptersLiveUnderMlp) {
  auto model = make_model();
  apply_lora(model, lora_config({"gate_proj", "down_proj"}));
  auto adapters = lora_state_dict(model);
  EXPECT_TRUE(adapters.contains("base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight"));
  EXPECT_EQ(adapters.at("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight").size(1),
            model->config().hidden_dim);
}

TEST(Lora, StateDictRoundTripsIntoAnotherModel) {
  auto model = make_model();
  apply_lora(model, lora_config());
  randomize_adapters(model);
  auto other = make_model();
  apply_lora(other, lora_config());
  load_lora_state_dict(other, lora_state_dict(model), "adapters");
  auto tokens = sample_tokens();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(other->forward(tokens).equal(model->forward(tokens)));

  auto missing = lora_state_dict(model);
  missing.erase(missing.begin());
  auto [code, message] =
      error_of([&] { load_lora_state_dict(other, missing, "lora/adapter_model.safetensors"); });
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(message.find("lora/adapter_model.safetensors"), std::string::npos) << message;
}

TEST(Lora, RankLargerThanALayerIsAUsageErrorNamingIt) {
  auto model = make_model();
  auto lora = lora_config({"k_proj"});
  lora.rank = 9;  // k_proj is (8, 16)
  auto [code, message] = error_of([&] { apply_lora(model, lora); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("model.layers.0.self_attn.k_proj"), std::string::npos) << message;
  EXPECT_NE(message.find("out 8"), std::string::npos) << message;
  EXPECT_TRUE(lora_parameters(model).empty());  // nothing was applied
  EXPECT_TRUE(model->embed_tokens->weight.requires_grad());
}

TEST(Lora, UnknownTargetIsAUsageErrorListingTheValidNames) {
  auto model = make_model();
  auto [code, message] = error_of([&] { apply_lora(model, lora_config({"qkv_proj"})); });
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(message.find("qkv_proj"), std::string::npos) << message;
  EXPECT_NE(message.find("gate_proj"), std::string::npos) << message;
}

TEST(Lora, HfStateDictHoldsTheBaseWeightsUnderTheirNames) {
  auto model = make_model();
  auto before = model->hf_state_dict();
  apply_lora(model, lora_config());
  auto after = model->hf_state_dict();
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [name, weight] : before) EXPECT_TRUE(after.at(name).equal(weight)) << name;
}

// The gradients of every adapter, flattened in parameter order, after one forward and backward pass.
torch::Tensor adapter_gradients(Transformer& model, const torch::Tensor& tokens, std::uint64_t dropout_seed) {
  for (auto& parameter : lora_parameters(model)) parameter.mutable_grad() = torch::Tensor();
  torch::manual_seed(dropout_seed);
  model->forward(tokens).pow(2).mean().backward();
  std::vector<torch::Tensor> flat;
  for (auto& parameter : lora_parameters(model)) flat.push_back(parameter.grad().flatten());
  return torch::cat(flat);
}

TEST(Lora, GradientCheckpointingGivesTheSameGradientsWithDropout) {
  auto config = tiny_test_config(/*tied=*/false);
  config.dropout = 0.2;
  torch::manual_seed(1);
  Transformer model(config);
  LoraConfig lora = lora_config({"q_proj", "v_proj", "up_proj"});
  lora.dropout = 0.3;
  apply_lora(model, lora);
  randomize_adapters(model);
  model->train();
  auto tokens = sample_tokens();
  torch::Tensor plain = adapter_gradients(model, tokens, 5);
  model->gradient_checkpointing = true;
  torch::Tensor recomputed = adapter_gradients(model, tokens, 5);
  // The recomputation replays each block's dropout masks: the same gradients, not merely similar ones.
  EXPECT_TRUE(all_close(recomputed, plain, 1e-5, 1e-7));
  // ...and the masks do act: another seed gives other gradients.
  EXPECT_GT(testing::max_abs_difference(adapter_gradients(model, tokens, 6), plain), 1e-6);
}

TEST(Lora, AdaptersOnABfloat16BaseStayFloat32AndTrain) {
  auto model = make_model();
  auto tokens = sample_tokens();
  torch::Tensor f32_logits;
  {
    torch::NoGradGuard no_grad;
    f32_logits = model->forward(tokens).to(torch::kFloat);
  }
  model->to(torch::kBFloat16);
  apply_lora(model, lora_config({"q_proj", "down_proj"}));
  for (auto& parameter : lora_parameters(model)) EXPECT_EQ(parameter.scalar_type(), torch::kFloat);
  torch::Tensor logits = model->forward(tokens);
  EXPECT_TRUE(all_close(logits.to(torch::kFloat), f32_logits, 0.05, 0.05));  // bfloat16's precision
  logits.to(torch::kFloat).pow(2).mean().backward();
  for (auto& parameter : lora_parameters(model)) {
    ASSERT_TRUE(parameter.grad().defined());
    EXPECT_EQ(parameter.grad().scalar_type(), torch::kFloat);
    EXPECT_TRUE(parameter.grad().isfinite().all().item<bool>());
  }
  for (const auto& parameter : model->parameters()) {
    if (parameter.scalar_type() == torch::kBFloat16) {
      EXPECT_FALSE(parameter.grad().defined());
    }
  }
}

TEST(Lora, SwitchedOffTheAdaptersGiveTheBaseModel) {
  auto model = make_model();
  auto tokens = sample_tokens();
  torch::NoGradGuard no_grad;
  auto base = model->forward(tokens);
  apply_lora(model, lora_config());
  randomize_adapters(model);
  EXPECT_GT(testing::max_abs_difference(model->forward(tokens), base), 1e-4);
  set_lora_enabled(model, false);
  EXPECT_TRUE(model->forward(tokens).equal(base));
  set_lora_enabled(model, true);
  EXPECT_GT(testing::max_abs_difference(model->forward(tokens), base), 1e-4);
}

}  // namespace
}  // namespace medcode::model
