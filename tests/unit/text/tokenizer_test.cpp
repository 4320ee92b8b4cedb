// Tests of the SentencePiece tokenizer through its plugin: training, the fixed special ids, the pieces that
// are always one token, round trips, determinism and the errors of a missing or foreign model.
#include "medcode/text/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "small_tokenizer.h"

namespace medcode::text {
namespace {

namespace fs = std::filesystem;
using testing::clinical_sentences;
using testing::small_tokenizer;

TEST(Tokenizer, HasTheSpecialPiecesAtTheirFixedIds) {
  const Tokenizer& tokenizer = small_tokenizer();
  EXPECT_EQ(tokenizer.id_to_piece(k_pad_id), "<pad>");
  EXPECT_EQ(tokenizer.id_to_piece(k_unk_id), "<unk>");
  EXPECT_EQ(tokenizer.id_to_piece(k_bos_id), "<s>");
  EXPECT_EQ(tokenizer.id_to_piece(k_eos_id), "</s>");
  EXPECT_EQ(tokenizer.piece_to_id("<s>"), k_bos_id);
  EXPECT_EQ(tokenizer.piece_to_id("no such piece"), -1);
  EXPECT_GT(tokenizer.vocab_size(), 100);
  EXPECT_LE(tokenizer.vocab_size(), 300);
}

TEST(Tokenizer, EncodesTheUserDefinedPiecesAsOneTokenEach) {
  const Tokenizer& tokenizer = small_tokenizer();
  for (std::string_view piece :
       {k_completion_piece, k_think_open_piece, k_think_close_piece, k_code_separator_piece}) {
    std::int32_t id = tokenizer.piece_to_id(piece);
    ASSERT_GE(id, 4) << piece;
    EXPECT_EQ(tokenizer.id_to_piece(id), piece);
  }
  std::vector<std::int32_t> ids = tokenizer.encode("E11.65,I10,J20.9");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tokenizer.piece_to_id(",")), 2);
  std::vector<std::int32_t> marked = tokenizer.encode("fever <|codes|> R50.9");
  EXPECT_EQ(std::count(marked.begin(), marked.end(), tokenizer.piece_to_id(k_completion_piece)), 1);
}

TEST(Tokenizer, SplitsDigitsSoThatCodesShareDigitPieces) {
  const Tokenizer& tokenizer = small_tokenizer();
  std::vector<std::int32_t> ids = tokenizer.encode("N18.30");
  std::vector<std::string> pieces;
  for (std::int32_t id : ids) pieces.push_back(tokenizer.id_to_piece(id));
  std::vector<std::string> digits(pieces.end() - 2, pieces.end());
  EXPECT_EQ(digits, (std::vector<std::string>{"3", "0"}));
}

TEST(Tokenizer, DecodesWhatItEncoded) {
  const Tokenizer& tokenizer = small_tokenizer();
  for (const std::string& text : {std::string("history of essential hypertension, seen on day 12."),
                                  std::string("S06.0X1A, I10"), std::string("worsening low back pain")}) {
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  }
  EXPECT_TRUE(tokenizer.encode("").empty());
}

TEST(Tokenizer, MapsUnseenCharactersToTheUnknownId) {
  const Tokenizer& tokenizer = small_tokenizer();
  std::vector<std::int32_t> ids = tokenizer.encode("\xe2\x98\x83");  // a snowman, never in the training text
  EXPECT_NE(std::find(ids.begin(), ids.end(), k_unk_id), ids.end());
}

TEST(Tokenizer, RejectsAnIdOutsideTheVocabulary) {
  const Tokenizer& tokenizer = small_tokenizer();
  EXPECT_THROW(tokenizer.id_to_piece(tokenizer.vocab_size()), Error);
  std::vector<std::int32_t> ids{-5};
  EXPECT_THROW(tokenizer.decode(ids), Error);
}

TEST(Tokenizer, HashesItsModelFile) {
  const Tokenizer& tokenizer = small_tokenizer();
  EXPECT_EQ(tokenizer.sha256(), util::sha256_file_hex(tokenizer.path()));
  EXPECT_EQ(tokenizer.sha256().size(), 64u);
}

TEST(Tokenizer, TrainsTheSameModelTwiceFromTheSameTextAndSeed) {
  medcode::testing::TempDir dir;
  for (const char* name : {"a.model", "b.model"}) {
    TokenizerTrainOptions options;
    options.texts = clinical_sentences();
    options.model_path = dir / name;
    options.vocab_size = 200;
    options.threads = 2;
    Tokenizer::train(options);
  }
  EXPECT_EQ(util::sha256_file_hex(dir / "a.model"), util::sha256_file_hex(dir / "b.model"));
  EXPECT_TRUE(fs::exists(dir / "a.vocab"));
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().string().find(".tmp-"), std::string::npos) << entry.path();
  }
}

TEST(Tokenizer, TrainsBytePairEncodingToo) {
  medcode::testing::TempDir dir;
  TokenizerTrainOptions options;
  options.texts = clinical_sentences();
  options.model_path = dir / "bpe.model";
  options.vocab_size = 250;
  options.model_type = "bpe";
  Tokenizer::train(options);
  Tokenizer tokenizer = Tokenizer::load(options.model_path);
  EXPECT_EQ(tokenizer.id_to_piece(k_eos_id), "</s>");
  EXPECT_GE(tokenizer.piece_to_id(k_code_separator_piece), 4);
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("acute bronchitis, J20.9")), "acute bronchitis, J20.9");
}

TEST(Tokenizer, RefusesToTrainOnNoText) {
  medcode::testing::TempDir dir;
  TokenizerTrainOptions options;
  options.texts = {"", "   "};
  options.model_path = dir / "empty.model";
  try {
    Tokenizer::train(options);
    FAIL() << "trained on nothing";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
  }
  EXPECT_FALSE(fs::exists(options.model_path));
}

TEST(Tokenizer, RefusesAnUnknownModelType) {
  medcode::testing::TempDir dir;
  TokenizerTrainOptions options;
  options.texts = clinical_sentences();
  options.model_path = dir / "x.model";
  options.model_type = "wordpiece";
  try {
    Tokenizer::train(options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

TEST(Tokenizer, ReportsAMissingModelFileByName) {
  try {
    Tokenizer::load("/nonexistent/tokenizer.model");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer.model"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, ReportsAFileThatIsNotAModel) {
  medcode::testing::TempDir dir;
  std::ofstream(dir / "junk.model") << "this is not a protobuf";
  try {
    Tokenizer::load(dir / "junk.model");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("junk.model"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, EncodesFromSeveralThreadsAlike) {
  const Tokenizer& tokenizer = small_tokenizer();
  std::vector<std::string> texts = clinical_sentences();
  std::vector<std::vector<std::int32_t>> expected;
  for (const std::string& text : texts) expected.push_back(tokenizer.encode(text));
  std::vector<std::vector<std::vector<std::int32_t>>> got(4);
  {
    std::vector<std::jthread> threads;
    for (std::size_t t = 0; t < got.size(); ++t) {
      threads.emplace_back([&, t] {
        for (const std::string& text : texts) got[t].push_back(tokenizer.encode(text));
      });
    }
  }
  for (const auto& result : got) EXPECT_EQ(result, expected);
}

}  // namespace
}  // namespace medcode::text
