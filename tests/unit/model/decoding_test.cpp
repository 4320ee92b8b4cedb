// Tests of decoding: the code trie, constrained decoding that emits only valid codes, batched decoding equal
// to one prompt at a time, beam search, sampling, and the limits on codes and tokens.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "medcode/model/decoding.h"
#include "medcode/text/prompt_format.h"
#include "model_test_support.h"
#include "support/medcode_process.h"

namespace medcode::model {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> k_codes = {"E11.65", "E11.9", "I10", "J20.9", "S06.0X1A", "R51.9", "N18.30"};

class Decoding : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_dir = new medcode::testing::TempDir();
    text::TokenizerTrainOptions options;
    for (int i = 0; i < 60; ++i) {
      options.texts.push_back(fmt::format("{}patient {} with diabetes, hypertension and headache",
                                          text::k_prompt_prefix, i));
      options.texts.push_back(fmt::format("{}, {}", k_codes[i % k_codes.size()], k_codes[(i + 3) % k_codes.size()]));
    }
    options.model_path = s_dir->path() / "tokenizer.model";
    options.vocab_size = 120;
    text::Tokenizer::train(options);
    s_tokenizer = new text::Tokenizer(text::Tokenizer::load(options.model_path));
  }
  static void TearDownTestSuite() {
    delete s_tokenizer;
    delete s_dir;
  }

  void SetUp() override {
    ModelConfig config = testing::tiny_test_config();
    config.vocab_size = s_tokenizer->vocab_size();
    config.max_seq_len = 96;
    torch::manual_seed(7);
    m_model = Transformer(config);
    m_trie = CodeTrie::build(*s_tokenizer, k_codes);
  }

  std::vector<std::int32_t> prompt(const std::string& text) const {
    return text::encode_prompt(*s_tokenizer, text);
  }

  static medcode::testing::TempDir* s_dir;
  static text::Tokenizer* s_tokenizer;
  Transformer m_model{nullptr};
  CodeTrie m_trie;
};

medcode::testing::TempDir* Decoding::s_dir = nullptr;
text::Tokenizer* Decoding::s_tokenizer = nullptr;

TEST_F(Decoding, TrieHoldsEachCodesTokensAndNamesTheCodeAtItsEnd) {
  EXPECT_EQ(m_trie.size(), k_codes.size());
  for (const std::string& code : k_codes) {
    std::int32_t node = CodeTrie::k_root;
    for (std::int32_t token : text::encode_code(*s_tokenizer, code)) {
      node = m_trie.child(node, token);
      ASSERT_GE(node, 0) << code;
    }
    ASSERT_NE(m_trie.code_at(node), nullptr) << code;
    EXPECT_EQ(*m_trie.code_at(node), code);
  }
  EXPECT_EQ(m_trie.child(CodeTrie::k_root, text::k_eos_id), -1);
  const auto& first = m_trie.next_tokens(CodeTrie::k_root);
  EXPECT_TRUE(std::is_sorted(first.begin(), first.end()));
}

TEST_F(Decoding, ConstrainedDecodingEmitsOnlyValidCodesEvenFromAnUntrainedModel) {
  DecodeOptions options;
  options.trie = &m_trie;
  options.max_codes = 3;
  for (std::size_t beam : {1U, 3U}) {
    options.beam_size = beam;
    std::vector<Decoded> decoded =
        decode(m_model, *s_tokenizer, {prompt("headache"), prompt("type 2 diabetes with hyperglycemia")}, options);
    ASSERT_EQ(decoded.size(), 2U);
    for (const Decoded& result : decoded) {
      ASSERT_FALSE(result.codes.empty());
      EXPECT_LE(result.codes.size(), 3U);
      for (const DecodedCode& code : result.codes) {
        EXPECT_NE(std::find(k_codes.begin(), k_codes.end(), code.code), k_codes.end()) << code.code;
        EXPECT_GT(code.score, 0.0);
        EXPECT_LE(code.score, 1.0);
      }
      EXPECT_LE(result.log_probability, 0.0);
    }
  }
}

TEST_F(Decoding, ABatchDecodesAsEachPromptAlone) {
  DecodeOptions options;
  options.trie = &m_trie;
  std::vector<std::vector<std::int32_t>> prompts = {prompt("headache"),
                                                    prompt("chronic kidney disease stage 3 with hypertension"),
                                                    prompt("a")};
  for (std::size_t beam : {1U, 2U}) {
    options.beam_size = beam;
    std::vector<Decoded> together = decode(m_model, *s_tokenizer, prompts, options);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      Decoded alone = decode(m_model, *s_tokenizer, {prompts[i]}, options).front();
      EXPECT_EQ(together[i].completion, alone.completion) << "prompt " << i << ", beam " << beam;
      EXPECT_NEAR(together[i].log_probability, alone.log_probability, 1e-4);
    }
  }
}

TEST_F(Decoding, BeamSearchRanksOtherBeamsCodesAfterTheBestSequences) {
  DecodeOptions options;
  options.trie = &m_trie;
  options.beam_size = 4;
  options.max_codes = 1;
  Decoded decoded = decode(m_model, *s_tokenizer, {prompt("headache")}, options).front();
  ASSERT_EQ(decoded.codes.size(), 1U);
  ASSERT_GE(decoded.ranked.size(), 2U);  // four beams of one code each: several distinct codes
  EXPECT_EQ(decoded.ranked.front().code, decoded.codes.front().code);
  std::set<std::string> distinct;
  for (const auto& code : decoded.ranked) distinct.insert(code.code);
  EXPECT_EQ(distinct.size(), decoded.ranked.size());
}

TEST_F(Decoding, UnconstrainedDecodingStopsAtTheTokenLimitAndKeepsOnlyCodeShapedText) {
  DecodeOptions options;
  options.max_new_tokens = 5;
  Decoded decoded = decode(m_model, *s_tokenizer, {prompt("headache")}, options).front();
  EXPECT_LE(decoded.n_generated, 5U);
  options.max_new_tokens = 40;
  options.max_codes = 1;
  for (const Decoded& result : decode(m_model, *s_tokenizer, {prompt("headache"), prompt("cough")}, options)) {
    EXPECT_LE(result.codes.size(), 1U);
    for (const auto& code : result.codes)
      EXPECT_EQ(code.code.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789."),
                std::string::npos)
          << code.code;
  }
}

TEST_F(Decoding, GreedyDecodingIsDeterministic) {
  DecodeOptions options;
  options.trie = &m_trie;
  Decoded first = decode(m_model, *s_tokenizer, {prompt("acute bronchitis")}, options).front();
  Decoded second = decode(m_model, *s_tokenizer, {prompt("acute bronchitis")}, options).front();
  EXPECT_EQ(first.completion, second.completion);
  EXPECT_EQ(first.log_probability, second.log_probability);
}

TEST_F(Decoding, SamplingAtTemperatureZeroIsGreedy) {
  DecodeOptions options;
  options.trie = &m_trie;
  options.max_codes = 3;
  Decoded greedy = decode(m_model, *s_tokenizer, {prompt("acute bronchitis")}, options).front();
  options.temperature = 0;
  options.top_p = 0.5;  // shapes only a draw
  options.seed = 9;
  Decoded zero = decode(m_model, *s_tokenizer, {prompt("acute bronchitis")}, options).front();
  EXPECT_EQ(zero.tokens, greedy.tokens);
  EXPECT_EQ(zero.log_probability, greedy.log_probability);
}

// At a high temperature the untrained model's next-token distribution is nearly flat over the seven codes'
// first tokens: several tokens are likely at every step, so draws differ between seeds.
DecodeOptions flat_sampling(const CodeTrie& trie, std::uint64_t seed) {
  DecodeOptions options;
  options.trie = &trie;
  options.max_codes = 3;
  options.temperature = 50;
  options.seed = seed;
  return options;
}

TEST_F(Decoding, TheSameSeedDrawsTheSameCompletionAndOtherSeedsOthers) {
  std::vector<std::vector<std::int32_t>> prompts = {prompt("headache"), prompt("acute bronchitis")};
  std::vector<Decoded> first = decode(m_model, *s_tokenizer, prompts, flat_sampling(m_trie, 1));
  std::vector<Decoded> again = decode(m_model, *s_tokenizer, prompts, flat_sampling(m_trie, 1));
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(first[i].tokens, again[i].tokens) << "prompt " << i;
    EXPECT_EQ(first[i].log_probability, again[i].log_probability) << "prompt " << i;
  }
  std::set<std::string> completions;
  for (std::uint64_t seed = 1; seed <= 8; ++seed)
    completions.insert(
        decode(m_model, *s_tokenizer, {prompts[0]}, flat_sampling(m_trie, seed)).front().completion);
  EXPECT_GE(completions.size(), 3U) << "eight seeds, nearly uniform choices";
}

TEST_F(Decoding, SampledCodesAreStillOnlyValidCodes) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    Decoded decoded =
        decode(m_model, *s_tokenizer, {prompt("headache")}, flat_sampling(m_trie, seed)).front();
    ASSERT_FALSE(decoded.codes.empty()) << "seed " << seed;
    for (const DecodedCode& code : decoded.codes) {
      EXPECT_NE(std::find(k_codes.begin(), k_codes.end(), code.code), k_codes.end()) << code.code;
      EXPECT_GT(code.score, 0.0);
    }
  }
}

TEST_F(Decoding, ASampledTextDrawsTheSameTokensWhateverElseIsInItsBatch) {
  DecodeOptions options = flat_sampling(m_trie, 3);
  options.temperature = 2;  // not so flat that a last-digit difference of a padded batch moves a draw
  Decoded alone = decode(m_model, *s_tokenizer, {prompt("headache")}, options).front();
  std::vector<Decoded> together =
      decode(m_model, *s_tokenizer, {prompt("chronic kidney disease stage 3"), prompt("headache")}, options);
  EXPECT_EQ(together[1].tokens, alone.tokens);
}

TEST_F(Decoding, ASmallTopPLeavesOnlyTheMostProbableToken) {
  DecodeOptions greedy;
  greedy.trie = &m_trie;
  greedy.max_codes = 3;
  Decoded expected = decode(m_model, *s_tokenizer, {prompt("acute bronchitis")}, greedy).front();
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    DecodeOptions options = flat_sampling(m_trie, seed);
    options.temperature = 1.5;
    options.top_p = 1e-6;
    Decoded sampled = decode(m_model, *s_tokenizer, {prompt("acute bronchitis")}, options).front();
    EXPECT_EQ(sampled.tokens, expected.tokens) << "seed " << seed;
  }
}

TEST_F(Decoding, SamplingRefusesABeamAndATopPOutsideItsRange) {
  DecodeOptions options = flat_sampling(m_trie, 1);
  options.beam_size = 2;
  EXPECT_EQ(testing::error_of([&] { decode(m_model, *s_tokenizer, {prompt("a")}, options); }).first,
            ExitCode::usage);
  options.beam_size = 1;
  for (double top_p : {0.0, 1.5}) {
    options.top_p = top_p;
    EXPECT_EQ(testing::error_of([&] { decode(m_model, *s_tokenizer, {prompt("a")}, options); }).first,
              ExitCode::usage)
        << top_p;
  }
}

// Greedy decoding the slow way, as a reference: the whole sequence through the model at every step, no
// cache, the most probable token appended until </s> or the limit.
std::vector<std::int32_t> greedy_by_full_recompute(Transformer& model, std::vector<std::int32_t> sequence,
                                                   std::size_t max_new_tokens) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<std::int32_t> generated;
  for (std::size_t step = 0; step < max_new_tokens; ++step) {
    auto tokens = torch::tensor(std::vector<std::int64_t>(sequence.begin(), sequence.end())).unsqueeze(0);
    auto logits = model->forward(tokens);  // (1, T, V)
    auto next = static_cast<std::int32_t>(logits[0][-1].argmax().item<std::int64_t>());
    generated.push_back(next);
    sequence.push_back(next);
    if (next == text::k_eos_id) break;
  }
  return generated;
}

TEST_F(Decoding, GreedyDecodingWithTheCacheGivesTheTokensOfRecomputingEveryStep) {
  DecodeOptions options;
  options.max_new_tokens = 24;
  options.max_codes = 1000;  // unconstrained, cut only by the token limit or </s>
  // prompts of different lengths: one batch holds left padding
  std::vector<std::vector<std::int32_t>> prompts = {prompt("headache"),
                                                    prompt("chronic kidney disease stage 3 with hypertension")};
  std::vector<Decoded> batched = decode(m_model, *s_tokenizer, prompts, options);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    std::vector<std::int32_t> expected = greedy_by_full_recompute(m_model, prompts[i], options.max_new_tokens);
    Decoded alone = decode(m_model, *s_tokenizer, {prompts[i]}, options).front();
    EXPECT_EQ(alone.n_generated, expected.size()) << "prompt " << i;
    EXPECT_EQ(alone.completion, s_tokenizer->decode(expected)) << "prompt " << i;
    EXPECT_EQ(batched[i].n_generated, expected.size()) << "prompt " << i;
    EXPECT_EQ(batched[i].completion, s_tokenizer->decode(expected)) << "prompt " << i;
  }
}

}  // namespace
}  // namespace medcode::model
