// Tests of the byte-level BPE tokenizer on small tokenizer.json files written here: merges and their order,
// ignore_merges, added tokens and their flags, normalizers, Split pre-tokenizers, the post-processor, round
// trips, threads and the errors of bad files. Conformance with the reference is in bpe_conformance_test.cpp.
#include "medcode/text/bpe_tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::text {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

// GPT-2's byte-to-unicode table, written independently of the tokenizer's own.
std::string byte_token(unsigned char byte) {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> tokens(256);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      int c = printable ? b : next++;
      std::string utf8;
      if (c < 0x80) {
        utf8 += static_cast<char>(c);
      } else {
        utf8 += static_cast<char>(0xC0 | (c >> 6));
        utf8 += static_cast<char>(0x80 | (c & 0x3F));
      }
      tokens[static_cast<std::size_t>(b)] = utf8;
    }
    return tokens;
  }();
  return table[byte];
}

// A byte-level tokenizer.json: the 256 byte tokens at ids 0-255 (id = byte), then `merged` tokens from 256.
json small_tokenizer_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_token(static_cast<unsigned char>(b))] = b;
  // id 256 "he", 257 "ll", 258 "hell", 259 "hello", 260 "Ġw", 261 "12", 262 "xyz" (no merge makes it).
  const std::vector<std::string> merged = {"he", "ll", "hell", "hello", "Ġw", "12", "xyz"};
  for (std::size_t i = 0; i < merged.size(); ++i) vocab[merged[i]] = 256 + static_cast<int>(i);
  json merges = json::array({json::array({"h", "e"}), json::array({"l", "l"}), json::array({"he", "ll"}),
                             json::array({"hell", "o"}), json::array({"Ġ", "w"}), json::array({"1", "2"})});
  auto added = [](int id, const std::string& content, bool special) {
    return json{{"id", id},        {"content", content},   {"special", special}, {"lstrip", false},
                {"rstrip", false}, {"single_word", false}, {"normalized", false}};
  };
  json added_tokens =
      json::array({added(300, "<|end|>", true), added(301, "<|endoftext|>", true), added(302, "<l>", false),
                   added(303, "<r>", false), added(304, "[w]", false)});
  added_tokens[2]["lstrip"] = true;
  added_tokens[3]["rstrip"] = true;
  added_tokens[4]["single_word"] = true;
  return json{
      {"version", "1.0"},
      {"added_tokens", added_tokens},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", false}}},
  };
}

class BpeTokenizerFiles {
 public:
  fs::path write(const json& tokenizer, const std::string& name = "tokenizer.json") {
    fs::path path = m_dir / name;
    std::ofstream(path) << tokenizer.dump();
    return path;
  }
  fs::path write_text(const std::string& text, const std::string& name) {
    fs::path path = m_dir / name;
    std::ofstream(path) << text;
    return path;
  }
  BpeTokenizer load(const json& tokenizer) { return BpeTokenizer::load(write(tokenizer)); }

 private:
  TempDir m_dir;
};

std::vector<std::int32_t> bytes_of(std::string_view text) {
  std::vector<std::int32_t> ids;
  for (char c : text) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

TEST(BpeTokenizer, MergesPairsLowestRankFirst) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(small_tokenizer_json());
  EXPECT_EQ(tokenizer.encode("hello"), (std::vector<std::int32_t>{259}));
  EXPECT_EQ(tokenizer.encode("hell"), (std::vector<std::int32_t>{258}));
  // "he" + "l" has no merge: the rank-1 "l l" never applies to a single l.
  EXPECT_EQ(tokenizer.encode("hel"), (std::vector<std::int32_t>{256, 'l'}));
  EXPECT_EQ(tokenizer.encode("hx"), bytes_of("hx"));
}

TEST(BpeTokenizer, MergesTheLeftmostOfEqualPairsFirst) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(small_tokenizer_json());
  // "lll": the leftmost "l l" merges, the last l stays alone.
  EXPECT_EQ(tokenizer.encode("lll"), (std::vector<std::int32_t>{257, 'l'}));
}

TEST(BpeTokenizer, WritesSpacesAsTheByteLevelCharacterAndSplitsWithTheGpt2Pattern) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(small_tokenizer_json());
  // " world" is one pre-token: "Ġw" merges, the rest stays bytes; "hello" and " world" never merge across.
  std::vector<std::int32_t> expected = {259, 260, 'o', 'r', 'l', 'd'};
  EXPECT_EQ(tokenizer.encode("hello world"), expected);
  EXPECT_EQ(tokenizer.id_to_token(260), "Ġw");
  EXPECT_EQ(tokenizer.token_to_id("Ġw"), 260);
}

TEST(BpeTokenizer, ReadsTheStringFormOfMergesLikeTheArrayForm) {
  BpeTokenizerFiles files;
  json tokenizer_json = small_tokenizer_json();
  json string_merges = json::array();
  for (const json& merge : tokenizer_json["model"]["merges"])
    string_merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
  tokenizer_json["model"]["merges"] = string_merges;
  BpeTokenizer tokenizer = files.load(tokenizer_json);
  EXPECT_EQ(tokenizer.encode("hello world 12"),
            (std::vector<std::int32_t>{259, 260, 'o', 'r', 'l', 'd', ' ', 261}));
}

TEST(BpeTokenizer, TakesAPreTokenInTheVocabularyWholeWhenIgnoreMergesIsSet) {
  BpeTokenizerFiles files;
  json tokenizer_json = small_tokenizer_json();
  EXPECT_EQ(files.load(tokenizer_json).encode("xyz"), bytes_of("xyz"));
  tokenizer_json["model"]["ignore_merges"] = true;
  EXPECT_EQ(files.load(tokenizer_json).encode("xyz"), (std::vector<std::int32_t>{262}));
}

TEST(BpeTokenizer, MatchesSpecialTokensInsideTheText) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(small_tokenizer_json());
  EXPECT_EQ(tokenizer.encode("hi<|end|>hello"), (std::vector<std::int32_t>{'h', 'i', 300, 259}));
  // The longest added token at a place wins, and a broken one is plain text.
  EXPECT_EQ(tokenizer.encode("<|endoftext|>"), (std::vector<std::int32_t>{301}));
  std::vector<std::int32_t> broken = tokenizer.encode("<|end|");
  EXPECT_EQ(std::count(broken.begin(), broken.end(), 300), 0);
}

TEST(BpeTokenizer, StripsWhitespaceAroundAddedTokensAsTheirFlagsSay) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(small_tokenizer_json());
  EXPECT_EQ(tokenizer.encode("a  <l>b"), (std::vector<std::int32_t>{'a', 302, 'b'}));    // lstrip
  EXPECT_EQ(tokenizer.encode("a<r> \n b"), (std::vector<std::int32_t>{'a', 303, 'b'}));  // rstrip
  EXPECT_EQ(tokenizer.encode("a <|end|> b"), (std::vector<std::int32_t>{'a', ' ', 300, ' ', 'b'}));
}

TEST(BpeTokenizer, MatchesASingleWordTokenOnlyOutsideWords) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(small_tokenizer_json());
  std::vector<std::int32_t> alone = tokenizer.encode("x [w] y");
  EXPECT_EQ(std::count(alone.begin(), alone.end(), 304), 1);
  std::vector<std::int32_t> inside = tokenizer.encode("x[w]y");
  EXPECT_EQ(std::count(inside.begin(), inside.end(), 304), 0);
}

TEST(BpeTokenizer, NormalizesToNfcWhenTheFileAsksForIt) {
  BpeTokenizerFiles files;
  json tokenizer_json = small_tokenizer_json();
  const std::string decomposed = "cafe\xCC\x81";  // e + COMBINING ACUTE ACCENT
  const std::string composed = "caf\xC3\xA9";     // U+00E9
  EXPECT_EQ(files.load(tokenizer_json).encode(decomposed), bytes_of(decomposed));
  tokenizer_json["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}})}};
  BpeTokenizer tokenizer = files.load(tokenizer_json);
  EXPECT_EQ(tokenizer.encode(decomposed), bytes_of(composed));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(decomposed)), composed);
}

json with_normalizer(json tokenizer_json, const std::string& type) {
  tokenizer_json["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", type}}})}};
  return tokenizer_json;
}

TEST(BpeTokenizer, NormalizesToEachUnicodeFormTheFileNames) {
  BpeTokenizerFiles files;
  const std::string decomposed = "cafe\xCC\x81";         // e + COMBINING ACUTE ACCENT
  const std::string composed = "caf\xC3\xA9";            // U+00E9
  const std::string ligature = "\xEF\xAC\x81x\xC2\xB2";  // U+FB01 LATIN SMALL LIGATURE FI, x, SUPERSCRIPT TWO
  EXPECT_EQ(files.load(with_normalizer(small_tokenizer_json(), "NFD")).encode(composed),
            bytes_of(decomposed));
  BpeTokenizer nfkc = files.load(with_normalizer(small_tokenizer_json(), "NFKC"));
  EXPECT_EQ(nfkc.encode(ligature), bytes_of("fix2"));
  EXPECT_EQ(nfkc.encode(decomposed), bytes_of(composed));
  EXPECT_EQ(files.load(with_normalizer(small_tokenizer_json(), "NFKD")).encode(ligature + composed),
            bytes_of("fix2" + decomposed));
}

// Unicode's full lowercase mapping, as Rust's to_lowercase: U+0130 becomes "i" + U+0307 and a capital sigma
// that ends a word becomes the final sigma.
TEST(BpeTokenizer, LowercasesWithUnicodesFullMapping) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(with_normalizer(small_tokenizer_json(), "Lowercase"));
  EXPECT_EQ(tokenizer.encode("HeLLO"), (std::vector<std::int32_t>{259}));
  EXPECT_EQ(tokenizer.encode("AbC \xC3\x89"), bytes_of("abc \xC3\xA9"));
  EXPECT_EQ(tokenizer.encode("\xC4\xB0"), bytes_of("i\xCC\x87"));
  // "ΣΑΣ ΟΔΟΣ." -> "σας οδος.": a sigma that begins a word stays medial.
  EXPECT_EQ(tokenizer.encode("\xCE\xA3\xCE\x91\xCE\xA3 \xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3."),
            bytes_of("\xCF\x83\xCE\xB1\xCF\x82 \xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82."));
}

// A normalizer keeps ill-formed bytes as they are and normalizes the text around them.
TEST(BpeTokenizer, NormalizesAroundIllFormedUtf8) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(with_normalizer(small_tokenizer_json(), "NFC"));
  EXPECT_EQ(tokenizer.encode("\xFF"
                             "cafe\xCC\x81 \xE2\x82"),
            bytes_of("\xFF"
                     "caf\xC3\xA9 \xE2\x82"));
}

// Llama-3's split: digits in groups of at most three, so "1212" is "121" + "2" and the merge "1 2" cannot
// join the second pair.
TEST(BpeTokenizer, SplitsWithTheSplitPreTokenizersRegex) {
  BpeTokenizerFiles files;
  json tokenizer_json = small_tokenizer_json();
  EXPECT_EQ(files.load(tokenizer_json).encode("1212"), (std::vector<std::int32_t>{261, 261}));
  json split = {
      {"type", "Split"},
      {"pattern",
       {{"Regex",
         R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
      {"behavior", "Isolated"},
      {"invert", false}};
  tokenizer_json["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({split, {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  EXPECT_EQ(files.load(tokenizer_json).encode("1212"), (std::vector<std::int32_t>{261, '1', '2'}));
}

// Unicode's White_Space, as Oniguruma and Rust read \s: U+0085 is whitespace, U+FEFF is not (JavaScript says
// the opposite of both).
TEST(BpeTokenizer, ReadsBackslashSAsUnicodeWhiteSpace) {
  BpeTokenizerFiles files;
  json tokenizer_json = small_tokenizer_json();
  json split = {
      {"type", "Split"}, {"pattern", {{"Regex", R"(\s)"}}}, {"behavior", "Removed"}, {"invert", false}};
  tokenizer_json["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({split, {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  BpeTokenizer tokenizer = files.load(tokenizer_json);
  EXPECT_EQ(tokenizer.encode("a\xC2\x85"
                             "b\x0B"
                             "c d"),
            bytes_of("abcd"));
  EXPECT_EQ(tokenizer.encode("a\xEF\xBB\xBF"
                             "b"),
            bytes_of("a\xEF\xBB\xBF"
                     "b"));
  // U+180E MONGOLIAN VOWEL SEPARATOR left White_Space in Unicode 6.3 (PCRE2's own \s still has it).
  EXPECT_EQ(tokenizer.encode("a\xE1\xA0\x8E"
                             "b"),
            bytes_of("a\xE1\xA0\x8E"
                     "b"));
}

TEST(BpeTokenizer, AddsAPrefixSpaceWhenByteLevelAsksForIt) {
  BpeTokenizerFiles files;
  json tokenizer_json = small_tokenizer_json();
  tokenizer_json["pre_tokenizer"]["add_prefix_space"] = true;
  EXPECT_EQ(files.load(tokenizer_json).encode("w"), (std::vector<std::int32_t>{260}));
}

TEST(BpeTokenizer, WrapsTheIdsInTheTemplateWhenAskedForSpecialTokens) {
  BpeTokenizerFiles files;
  json tokenizer_json = small_tokenizer_json();
  tokenizer_json["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", json::array({{{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                              {{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}}})},
      {"pair", json::array()},
      {"special_tokens",
       {{"<|endoftext|>", {{"id", "<|endoftext|>"}, {"ids", {301}}, {"tokens", {"<|endoftext|>"}}}},
        {"<|end|>", {{"id", "<|end|>"}, {"ids", {300}}, {"tokens", {"<|end|>"}}}}}}};
  BpeTokenizer tokenizer = files.load(tokenizer_json);
  EXPECT_EQ(tokenizer.encode("hello", true), (std::vector<std::int32_t>{301, 259, 300}));
  EXPECT_EQ(tokenizer.encode("hello", false), (std::vector<std::int32_t>{259}));
  EXPECT_EQ(tokenizer.bos_id(), 301);
  EXPECT_EQ(tokenizer.eos_id(), 300);
}

TEST(BpeTokenizer, TakesBosAndEosFromTheConfigBesideTheFile) {
  BpeTokenizerFiles files;
  fs::path path = files.write(small_tokenizer_json());
  EXPECT_FALSE(BpeTokenizer::load(path).eos_id().has_value());
  files.write_text(R"({"bos_token": null, "eos_token": {"content": "<|end|>"}})", "tokenizer_config.json");
  BpeTokenizer tokenizer = BpeTokenizer::load(path);
  EXPECT_FALSE(tokenizer.bos_id().has_value());
  EXPECT_EQ(tokenizer.eos_id(), 300);
}

TEST(BpeTokenizer, DescribesItsVocabulary) {
  BpeTokenizerFiles files;
  fs::path path = files.write(small_tokenizer_json());
  BpeTokenizer tokenizer = BpeTokenizer::load(path);
  EXPECT_EQ(tokenizer.vocab_size(), 305);
  ASSERT_EQ(tokenizer.added_tokens().size(), 5U);
  EXPECT_EQ(tokenizer.added_tokens()[0].content, "<|end|>");
  EXPECT_TRUE(tokenizer.added_tokens()[0].special);
  EXPECT_EQ(tokenizer.token_to_id("<|end|>"), 300);
  EXPECT_EQ(tokenizer.token_to_id("not a token"), -1);
  EXPECT_EQ(tokenizer.id_to_token(300), "<|end|>");
  EXPECT_EQ(tokenizer.id_to_token(299), "");
  EXPECT_EQ(tokenizer.id_to_token(-1), "");
  EXPECT_EQ(tokenizer.sha256().size(), 64U);
  EXPECT_EQ(tokenizer.path(), path);
}

TEST(BpeTokenizer, DecodesEveryValidTextToItsBytes) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(small_tokenizer_json());
  for (const std::string& text :
       {std::string("hello world"), std::string("  spaces\n\n\ttabs  "),
        std::string("\xF0\x9F\x98\x80 emoji"), std::string("\xE7\x97\x85\xE4\xBA\xBA CJK"),
        std::string("nul\0byte", 8), std::string("a<|end|>b<l>c"), std::string("\xC2\x85\xEF\xBB\xBF")}) {
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  }
  std::vector<std::int32_t> ids = tokenizer.encode("a<|end|>b");
  EXPECT_EQ(tokenizer.decode(ids, true), "ab");
  std::vector<std::int32_t> out_of_range = {259, 99999, -5};
  EXPECT_EQ(tokenizer.decode(out_of_range), "hello");
}

// Ill-formed UTF-8 is not refused: without a normalizer its bytes come back as they went in.
TEST(BpeTokenizer, KeepsTheBytesOfIllFormedUtf8) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(small_tokenizer_json());
  const std::string text = "\xFF\xFE hello \xC3 world \xE2\x82";
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
}

TEST(BpeTokenizer, EncodesTheSameFromManyThreads) {
  BpeTokenizerFiles files;
  BpeTokenizer tokenizer = files.load(small_tokenizer_json());
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("hello world " + std::to_string(i * 7919) + " hell<|end|>o");
  std::vector<std::vector<std::int32_t>> expected;
  for (const std::string& text : texts) expected.push_back(tokenizer.encode(text));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (std::size_t i = 0; i < texts.size(); ++i)
          if (tokenizer.encode(texts[i]) != expected[i]) ++mismatches[t];
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, (std::vector<int>(4, 0)));
}

// Every refusal is Error(bad_input) naming the file and what is wrong.
void expect_bad_input(const fs::path& path, const std::string& needle) {
  try {
    BpeTokenizer::load(path);
    ADD_FAILURE() << "loaded " << path;
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    std::string message = error.what();
    EXPECT_NE(message.find(path.filename().string()), std::string::npos) << message;
    EXPECT_NE(message.find(needle), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(BpeTokenizer, RefusesAMissingFile) {
  TempDir dir;
  expect_bad_input(dir / "no-such-tokenizer.json", "no-such-tokenizer.json");
}

TEST(BpeTokenizer, RefusesAFileThatIsNotJson) {
  BpeTokenizerFiles files;
  expect_bad_input(files.write_text("{\"model\": {", "broken.json"), "not valid JSON");
}

TEST(BpeTokenizer, RefusesModelsOtherThanBpe) {
  BpeTokenizerFiles files;
  for (const char* type : {"Unigram", "WordPiece", "WordLevel"}) {
    json tokenizer_json = small_tokenizer_json();
    tokenizer_json["model"]["type"] = type;
    expect_bad_input(files.write(tokenizer_json, "other.json"), std::string("model.type ") + type);
  }
}

TEST(BpeTokenizer, RefusesAFileWithoutAKeyItNeedsNamingTheKey) {
  BpeTokenizerFiles files;
  json without_merges = small_tokenizer_json();
  without_merges["model"].erase("merges");
  expect_bad_input(files.write(without_merges, "a.json"), "model.merges");
  json without_model = small_tokenizer_json();
  without_model.erase("model");
  expect_bad_input(files.write(without_model, "b.json"), "tokenizer.model");
  json without_vocab = small_tokenizer_json();
  without_vocab["model"].erase("vocab");
  expect_bad_input(files.write(without_vocab, "c.json"), "model.vocab");
  json without_content = small_tokenizer_json();
  without_content["added_tokens"][0].erase("content");
  expect_bad_input(files.write(without_content, "d.json"), "added_tokens[0].content");
}

TEST(BpeTokenizer, RefusesMergesOfTokensOutsideTheVocabulary) {
  BpeTokenizerFiles files;
  json tokenizer_json = small_tokenizer_json();
  tokenizer_json["model"]["merges"].push_back(json::array({"q", "q"}));
  expect_bad_input(files.write(tokenizer_json), "model.merges[6]");
}

TEST(BpeTokenizer, RefusesPipelinesItCannotRun) {
  BpeTokenizerFiles files;
  json metaspace = small_tokenizer_json();
  metaspace["pre_tokenizer"] = {{"type", "Metaspace"}};
  expect_bad_input(files.write(metaspace, "a.json"), "pre_tokenizer.type Metaspace");
  json bad_regex = small_tokenizer_json();
  bad_regex["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_bad_input(files.write(bad_regex, "b.json"), "pre_tokenizer.pattern");
  json wordpiece_decoder = small_tokenizer_json();
  wordpiece_decoder["decoder"] = {{"type", "WordPiece"}};
  expect_bad_input(files.write(wordpiece_decoder, "c.json"), "decoder WordPiece");
}

}  // namespace
}  // namespace medcode::text
