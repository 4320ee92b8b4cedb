// Tests of the prompt format: the token layout of prompt and completion, the loss mask, rationales,
// truncation of the text from its end and examples whose completion does not fit.
#include "medcode/text/prompt_format.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "small_tokenizer.h"

namespace medcode::text {
namespace {

using testing::small_tokenizer;

std::vector<std::int32_t> concat(std::initializer_list<std::vector<std::int32_t>> parts) {
  std::vector<std::int32_t> all;
  for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

TEST(PromptFormat, LaysOutPromptThenCodesThenEndOfSequence) {
  const Tokenizer& tokenizer = small_tokenizer();
  PromptExample example =
      build_example(tokenizer, "essential hypertension", {"I10", "E11.65"}, std::nullopt, 128);
  const std::int32_t codes_id = tokenizer.piece_to_id(k_completion_piece);
  const std::int32_t comma_id = tokenizer.piece_to_id(k_code_separator_piece);
  std::vector<std::int32_t> expected =
      concat({{k_bos_id},
              tokenizer.encode(std::string(k_prompt_prefix) + "essential hypertension"),
              {codes_id},
              encode_code(tokenizer, "I10"),
              {comma_id},
              encode_code(tokenizer, "E11.65"),
              {k_eos_id}});
  EXPECT_EQ(example.ids, expected);
  EXPECT_FALSE(example.truncated);
  ASSERT_GT(example.n_prompt, 2u);
  EXPECT_EQ(example.ids[example.n_prompt - 1], codes_id);
  EXPECT_EQ(std::count(example.ids.begin(), example.ids.end(), comma_id), 1);
}

TEST(PromptFormat, MasksThePromptAndCountsTheCompletionWithItsEnd) {
  const Tokenizer& tokenizer = small_tokenizer();
  PromptExample example = build_example(tokenizer, "acute bronchitis", {"J20.9"}, std::nullopt, 128);
  ASSERT_EQ(example.loss_mask.size(), example.ids.size());
  for (std::size_t i = 0; i < example.ids.size(); ++i) {
    EXPECT_EQ(example.loss_mask[i], i < example.n_prompt ? 0 : 1) << i;
  }
  EXPECT_EQ(example.ids.back(), k_eos_id);
  EXPECT_EQ(example.loss_mask.back(), 1);
  EXPECT_EQ(example.loss_mask.size() - example.n_prompt, encode_code(tokenizer, "J20.9").size() + 1);
}

TEST(PromptFormat, PutsARationaleBetweenThinkMarkersBeforeTheCodes) {
  const Tokenizer& tokenizer = small_tokenizer();
  std::vector<std::int32_t> completion =
      encode_completion(tokenizer, {"R51.9"}, std::string("headache is named"));
  std::vector<std::int32_t> expected = concat({{tokenizer.piece_to_id(k_think_open_piece)},
                                               tokenizer.encode("headache is named"),
                                               {tokenizer.piece_to_id(k_think_close_piece)},
                                               encode_code(tokenizer, "R51.9"),
                                               {k_eos_id}});
  EXPECT_EQ(completion, expected);
}

TEST(PromptFormat, EncodesACodeAsTheTokenizerDoes) {
  const Tokenizer& tokenizer = small_tokenizer();
  EXPECT_EQ(encode_code(tokenizer, "S06.0X1A"), tokenizer.encode("S06.0X1A"));
  EXPECT_EQ(tokenizer.decode(encode_completion(tokenizer, {"S06.0X1A", "I10"})), "S06.0X1A, I10");
}

TEST(PromptFormat, CutsTheTextFromItsEndToFitAndKeepsThePrefixAndTheMarker) {
  const Tokenizer& tokenizer = small_tokenizer();
  std::string text;
  for (int i = 0; i < 40; ++i) text += "worsening essential hypertension ";
  PromptExample full = build_example(tokenizer, text, {"I10"}, std::nullopt, 4096);
  ASSERT_GT(full.ids.size(), 64u);
  PromptExample cut = build_example(tokenizer, text, {"I10"}, std::nullopt, 64);
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.ids.size(), 64u);
  EXPECT_EQ(cut.loss_mask.size(), 64u);
  // The same start as the whole prompt, then <|codes|> and the same completion.
  std::size_t kept = cut.n_prompt - 1;
  EXPECT_TRUE(std::equal(cut.ids.begin(), cut.ids.begin() + kept, full.ids.begin()));
  EXPECT_EQ(cut.ids[kept], tokenizer.piece_to_id(k_completion_piece));
  EXPECT_TRUE(std::equal(cut.ids.begin() + cut.n_prompt, cut.ids.end(), full.ids.begin() + full.n_prompt,
                         full.ids.end()));
  std::string prompt =
      tokenizer.decode(std::vector<std::int32_t>(cut.ids.begin() + 1, cut.ids.begin() + kept));
  EXPECT_EQ(prompt.rfind(k_prompt_prefix, 0), 0u) << prompt;
}

TEST(PromptFormat, LimitsAPromptOnItsOwn) {
  const Tokenizer& tokenizer = small_tokenizer();
  bool truncated = true;
  std::vector<std::int32_t> whole = encode_prompt(tokenizer, "headache", 0, &truncated);
  EXPECT_FALSE(truncated);
  EXPECT_EQ(whole.front(), k_bos_id);
  EXPECT_EQ(whole.back(), tokenizer.piece_to_id(k_completion_piece));
  std::vector<std::int32_t> bare = encode_prompt(tokenizer, "", 0);
  std::vector<std::int32_t> cut =
      encode_prompt(tokenizer, "history of major depressive disorder", bare.size() + 2, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(cut.size(), bare.size() + 2);
  // A limit below the prefix keeps the prefix whole.
  std::vector<std::int32_t> tiny = encode_prompt(tokenizer, "headache", 3, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(tiny, bare);
}

TEST(PromptFormat, DropsAnExampleWhoseCompletionAloneDoesNotFit) {
  const Tokenizer& tokenizer = small_tokenizer();
  std::vector<std::string> many(20, "S06.0X1A");
  PromptExample example = build_example(tokenizer, "concussion", many, std::nullopt, 32);
  EXPECT_TRUE(example.ids.empty());
  EXPECT_TRUE(example.loss_mask.empty());
}

}  // namespace
}  // namespace medcode::text
