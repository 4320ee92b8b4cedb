// The transformer's shapes, causality, grouped-query attention, padding, and its Hugging Face state dict.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medcode/model/transformer.h"
#include "model_test_support.h"

namespace medcode::model {
namespace {

using testing::all_close;
using testing::error_of;
using testing::tiny_test_config;

Transformer make_model(const ModelConfig& config, std::uint64_t seed = 1) {
  torch::manual_seed(seed);
  Transformer model(config);
  model->eval();
  return model;
}

TEST(Transformer, MapsTokensToLogitsOverTheVocabulary) {
  auto config = tiny_test_config();
  auto model = make_model(config);
  auto tokens = torch::randint(config.vocab_size, {3, 5}, torch::kLong);
  auto logits = model->forward(tokens);
  EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{3, 5, config.vocab_size}));
  EXPECT_EQ(logits.scalar_type(), torch::kFloat);
}

TEST(Transformer, HasAsManyParametersAsTheConfigCounts) {
  for (bool tied : {true, false}) {
    auto config = tiny_test_config(tied);
    auto model = make_model(config);
    std::int64_t total = 0;
    for (const auto& parameter : model->parameters()) total += parameter.numel();
    EXPECT_EQ(total, config.parameter_count()) << (tied ? "tied" : "untied");
  }
}

TEST(Transformer, ChangingALaterTokenLeavesEarlierLogitsAlone) {
  auto config = tiny_test_config();
  auto model = make_model(config);
  auto tokens = torch::randint(config.vocab_size, {2, 8}, torch::kLong);
  auto changed = tokens.clone();
  changed.index_put_({torch::indexing::Slice(), 5},
                     (tokens.index({torch::indexing::Slice(), 5}) + 1) % config.vocab_size);
  torch::NoGradGuard no_grad;
  auto before = model->forward(tokens);
  auto after = model->forward(changed);
  using torch::indexing::Slice;
  EXPECT_TRUE(before.index({Slice(), Slice(0, 5)}).equal(after.index({Slice(), Slice(0, 5)})));
  EXPECT_FALSE(before.index({Slice(), Slice(5, 8)}).allclose(after.index({Slice(), Slice(5, 8)})));
}

TEST(Transformer, KeyAndValueProjectionsAreSizedForTheKvHeads) {
  auto config = tiny_test_config();
  auto model = make_model(config);
  auto& attn = *model->blocks[0]->self_attn;
  const auto head_dim = config.head_dim();
  EXPECT_EQ(linear_weight(attn.q_proj).sizes(),
            (std::vector<std::int64_t>{config.n_heads * head_dim, config.dim}));
  EXPECT_EQ(linear_weight(attn.k_proj).sizes(),
            (std::vector<std::int64_t>{config.n_kv_heads * head_dim, config.dim}));
  EXPECT_EQ(linear_weight(attn.v_proj).sizes(),
            (std::vector<std::int64_t>{config.n_kv_heads * head_dim, config.dim}));
}

TEST(Transformer, GroupedQueryAttentionEqualsFullAttentionWithRepeatedKvWeights) {
  // A GQA model whose kv heads are copied into an n_kv_heads == n_heads model (each kv head repeated for its
  // group of query heads, as HF's repeat_kv does) computes the same function.
  auto gqa_config = tiny_test_config();
  auto mha_config = gqa_config;
  mha_config.n_kv_heads = mha_config.n_heads;
  auto gqa = make_model(gqa_config, 3);
  auto mha = make_model(mha_config, 4);
  auto weights = gqa->hf_state_dict();
  const auto head_dim = gqa_config.head_dim();
  const auto n_rep = gqa_config.n_heads / gqa_config.n_kv_heads;
  for (auto& [name, tensor] : weights) {
    if (name.ends_with("k_proj.weight") || name.ends_with("v_proj.weight")) {
      tensor = tensor.view({gqa_config.n_kv_heads, head_dim, gqa_config.dim})
                   .repeat_interleave(n_rep, 0)
                   .reshape({gqa_config.n_heads * head_dim, gqa_config.dim});
    }
  }
  mha->load_hf_state_dict(weights, "repeated kv");
  auto tokens = torch::randint(gqa_config.vocab_size, {2, 6}, torch::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(all_close(gqa->forward(tokens), mha->forward(tokens), 1e-5, 1e-6));
}

TEST(Transformer, LeftPaddingWithPositionsGivesTheUnpaddedLogits) {
  auto config = tiny_test_config();
  auto model = make_model(config);
  auto real = torch::randint(1, config.vocab_size, {1, 5}, torch::kLong);
  auto padded = torch::cat({torch::zeros({1, 3}, torch::kLong), real}, 1);  // (1, 8)
  auto key_padding = torch::tensor({{true, true, true, false, false, false, false, false}});
  auto positions = positions_from_padding(key_padding);
  EXPECT_TRUE(positions.equal(torch::tensor({{0, 0, 0, 0, 1, 2, 3, 4}}, torch::kLong)));
  torch::NoGradGuard no_grad;
  auto logits = model->forward(padded, positions, key_padding);
  using torch::indexing::Slice;
  EXPECT_TRUE(all_close(logits.index({Slice(), Slice(3, 8)}), model->forward(real), 1e-5, 1e-6));
}

TEST(Transformer, CacheGrowsByTheNewTokensAndDefaultsPositionsAfterIt) {
  auto config = tiny_test_config();
  auto model = make_model(config);
  auto tokens = torch::randint(config.vocab_size, {2, 6}, torch::kLong);
  torch::NoGradGuard no_grad;
  auto full = model->forward(tokens);
  auto cache = model->make_cache();
  using torch::indexing::Slice;
  auto first = model->forward(tokens.index({Slice(), Slice(0, 4)}), {}, {}, &cache);
  EXPECT_EQ(cache.length, 4);
  auto rest = model->forward(tokens.index({Slice(), Slice(4, 6)}), {}, {}, &cache);
  EXPECT_EQ(cache.length, 6);
  EXPECT_EQ(cache.values[1].sizes(), (std::vector<std::int64_t>{2, config.n_kv_heads, 6, config.head_dim()}));
  EXPECT_TRUE(all_close(torch::cat({first, rest}, 1), full, 1e-5, 1e-6));
}

TEST(Transformer, DropoutActsOnlyWhileTraining) {
  auto config = tiny_test_config();
  config.dropout = 0.5;
  auto model = make_model(config);
  auto tokens = torch::randint(config.vocab_size, {2, 6}, torch::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(model->forward(tokens).equal(model->forward(tokens)));
  model->train();
  EXPECT_FALSE(model->forward(tokens).equal(model->forward(tokens)));
}

TEST(Transformer, HfStateDictUsesLlamaNamesAndRoundTrips) {
  for (bool tied : {true, false}) {
    auto config = tiny_test_config(tied);
    auto model = make_model(config, 5);
    auto weights = model->hf_state_dict();
    EXPECT_TRUE(weights.contains("model.embed_tokens.weight"));
    EXPECT_TRUE(weights.contains("model.layers.1.self_attn.o_proj.weight"));
    EXPECT_TRUE(weights.contains("model.layers.0.mlp.gate_proj.weight"));
    EXPECT_TRUE(weights.contains("model.layers.0.post_attention_layernorm.weight"));
    EXPECT_TRUE(weights.contains("model.norm.weight"));
    EXPECT_EQ(weights.contains("lm_head.weight"), !tied);
    EXPECT_EQ(weights.size(), 2 + 9 * static_cast<std::size_t>(config.n_layers) + (tied ? 0 : 1));

    auto other = make_model(config, 6);
    other->load_hf_state_dict(weights, "weights");
    auto tokens = torch::randint(config.vocab_size, {1, 4}, torch::kLong);
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(other->forward(tokens).equal(model->forward(tokens)));
  }
}

TEST(Transformer, LoadingMissingExtraOrMisshapedTensorsIsBadInput) {
  auto config = tiny_test_config();
  auto model = make_model(config);
  auto weights = model->hf_state_dict();
  auto missing = weights;
  missing.erase("model.norm.weight");
  auto [code, message] = error_of([&] { model->load_hf_state_dict(missing, "ckpt/model.safetensors"); });
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(message.find("ckpt/model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("model.norm.weight"), std::string::npos) << message;

  auto misshaped = weights;
  misshaped["model.layers.0.self_attn.q_proj.weight"] = torch::zeros({3, 3});
  std::tie(code, message) = error_of([&] { model->load_hf_state_dict(misshaped, "w"); });
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(message.find("q_proj"), std::string::npos) << message;

  auto extra = weights;
  extra["lm_head.weight"] = torch::zeros({config.vocab_size, config.dim});
  EXPECT_EQ(error_of([&] { model->load_hf_state_dict(extra, "w"); }).first, ExitCode::bad_input);
}

TEST(Transformer, NeedsAVocabularySize) {
  auto config = tiny_test_config();
  config.vocab_size = 0;
  EXPECT_EQ(error_of([&] { Transformer model(config); }).first, ExitCode::usage);
}

}  // namespace
}  // namespace medcode::model
