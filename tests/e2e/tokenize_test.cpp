// End-to-end tests of `medcode tokenize`: an export folder and a single JSON Lines file tokenized against the
// real FY2023 store, rows and masks per split, --json statistics, re-runs that replace the token set, and bad
// invocations that store nothing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "medcode/store/database.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::query_int;
using testing::query_text;
using testing::run_medcode;
using testing::TempDir;

class TokenizeCommand : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef MEDCODE_HAVE_SENTENCEPIECE
    GTEST_SKIP() << "medcode is built without the SentencePiece plugin";
#endif
    fs::copy_file(testing::icd10cm_2023_store(), db());
  }

  fs::path db() const { return m_dir / "m.db"; }
  fs::path tokenizer_dir() const { return m_dir / "tok"; }

  ProcessResult tokenize(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string(), "tokenize", "--out", tokenizer_dir().string(),
                               "--vocab-size", "200", "--threads", "2"});
    return run_medcode(args, m_dir.path());
  }

  std::int64_t rows(const std::string& where) {
    return query_int(db(),
                     "SELECT count(*) FROM token_examples e JOIN token_sets s ON s.id = e.token_set_id "
                     "WHERE " +
                         where);
  }

  TempDir m_dir;
};

TEST_F(TokenizeCommand, TokenizesAnExportFolderWithTheDatasetsCodeDescriptions) {
  ProcessResult result = tokenize({"--dataset", fixture("tokenize/export").string(), "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(summary["name"], "default");
  EXPECT_EQ(summary["splits"]["train"]["examples"], 25);
  EXPECT_EQ(summary["splits"]["val"]["examples"], 4);
  EXPECT_EQ(summary["splits"]["test"]["examples"], 4);
  EXPECT_EQ(summary["splits"]["corpus"]["examples"], 15);  // one description per code of the dataset
  EXPECT_EQ(summary["descriptions"]["release"], "ICD-10-CM 2023");
  EXPECT_EQ(summary["sources"].size(), 3u);
  EXPECT_TRUE(summary["tokenizer"]["trained"]);
  EXPECT_TRUE(fs::exists(tokenizer_dir() / "tokenizer.model"));
  EXPECT_EQ(summary["tokenizer"]["path"], fs::absolute(tokenizer_dir() / "tokenizer.model").string());
  EXPECT_LE(summary["tokenizer"]["vocab_size"].get<int>(), 200);
  const nlohmann::json& train = summary["splits"]["train"];
  EXPECT_LE(train["min_length"].get<int>(), train["p50_length"].get<int>());
  EXPECT_LE(train["p95_length"].get<int>(), train["max_length"].get<int>());
  EXPECT_EQ(train["truncated"], 0);

  EXPECT_EQ(rows("s.name = 'default' AND e.split = 'train'"), 25);
  EXPECT_EQ(rows("e.split = 'corpus'"), 15);
  EXPECT_EQ(
      query_text(db(), "SELECT text FROM token_examples WHERE split = 'corpus' AND codes = '[\"E11.65\"]'"),
      "Type 2 diabetes mellitus with hyperglycemia");
  // Masks: one byte per id, zero over the prompt, one from there on, ids 4 bytes each ending in </s> (3).
  EXPECT_EQ(rows("length(e.loss_mask) * 4 <> length(e.input_ids)"), 0);
  EXPECT_EQ(
      rows("substr(e.loss_mask, e.n_prompt, 1) <> x'00' OR substr(e.loss_mask, e.n_prompt + 1, 1) <> x'01'"),
      0);
  EXPECT_EQ(rows("substr(e.input_ids, -4) <> x'03000000' OR substr(e.input_ids, 1, 4) <> x'02000000'"), 0);
  nlohmann::json stats = nlohmann::json::parse(query_text(db(), "SELECT stats FROM token_sets"));
  EXPECT_EQ(stats["train"], train);
  EXPECT_EQ(query_text(db(), "SELECT status FROM runs WHERE command = 'tokenize'"), "ok");
}

TEST_F(TokenizeCommand, PrintsATablePerSplitAndReplacesATokenSetOfTheSameName) {
  ProcessResult first = tokenize({"--dataset", fixture("tokenize/pairs.jsonl").string(), "--name", "small"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("train"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("tokenizer.model"), std::string::npos) << first.out;
  EXPECT_EQ(rows("s.name = 'small' AND e.split = 'train'"), 3);  // the line without a split is train
  EXPECT_EQ(rows("s.name = 'small' AND e.split = 'val'"), 1);
  EXPECT_EQ(query_text(db(), "SELECT codes FROM token_examples WHERE text = 'cough and wheeze'"),
            "[\"J20.9\"]");

  // The same name again, with the tokenizer just trained and no descriptions: one token set, new rows.
  ProcessResult second =
      tokenize({"--dataset", fixture("tokenize/pairs.jsonl").string(), "--name", "small", "--tokenizer",
                (tokenizer_dir() / "tokenizer.model").string(), "--descriptions", "none", "--json"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_FALSE(nlohmann::json::parse(second.out)["tokenizer"]["trained"]);
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM token_sets"), 1);
  EXPECT_EQ(rows("s.name = 'small'"), 4);
  EXPECT_EQ(rows("e.split = 'corpus'"), 0);
}

TEST_F(TokenizeCommand, NamesTheFileAndLineOfMalformedJsonAndStoresNothing) {
  fs::path file = fixture("tokenize/malformed.jsonl");
  ProcessResult result = tokenize({"--dataset", file.string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find(file.string() + ":3"), std::string::npos) << result.err;
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM token_sets"), 0);
  EXPECT_FALSE(fs::exists(tokenizer_dir()));
}

TEST_F(TokenizeCommand, RefusesALineWithoutCodes) {
  ProcessResult result = tokenize({"--dataset", fixture("tokenize/missing-codes.jsonl").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("missing-codes.jsonl:2"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("codes"), std::string::npos) << result.err;
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM token_sets"), 0);
}

TEST_F(TokenizeCommand, RefusesAnEmptyDataset) {
  ProcessResult result = tokenize({"--dataset", fixture("tokenize/empty.jsonl").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("no example"), std::string::npos) << result.err;
}

TEST_F(TokenizeCommand, RefusesAnUnknownModelType) {
  ProcessResult result =
      tokenize({"--dataset", fixture("tokenize/pairs.jsonl").string(), "--model-type", "foo"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
}

TEST_F(TokenizeCommand, RefusesATokenizerThatIsNotThere) {
  ProcessResult result = tokenize({"--dataset", fixture("tokenize/pairs.jsonl").string(), "--tokenizer",
                                   (m_dir / "none.model").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("none.model"), std::string::npos) << result.err;
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM token_sets"), 0);
}

TEST_F(TokenizeCommand, AsksForACodeSetWhenTheStoreHasNone) {
  ProcessResult result =
      run_medcode({"--db", (m_dir / "empty.db").string(), "tokenize", "--dataset",
                   fixture("tokenize/pairs.jsonl").string(), "--out", tokenizer_dir().string()},
                  m_dir.path());
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--descriptions none"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace medcode
