// Tests of tokenize_dataset on a small store: examples per split in input order, code descriptions as the
// corpus split, statistics, a tokenizer given instead of trained, and bad input that stores nothing.
#include "medcode/text/tokenize.h"

#include <gtest/gtest.h>

#include <fstream>

#include "medcode/text/token_set.h"
#include "medcode/util/error.h"
#include "small_tokenizer.h"

namespace medcode::text {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TokenizeDataset : public ::testing::Test {
 protected:
  void SetUp() override {
    m_db.exec(
        "INSERT INTO releases (id, system, year, imported_at, n_codes, n_billable) "
        "VALUES (1, 'icd10cm', 2023, 'now', 0, 0)");
    add_code("E11", "Type 2 diabetes mellitus", false);
    add_code("E11.65", "Type 2 diabetes mellitus with hyperglycemia");
    add_code("I10", "Essential (primary) hypertension");
    add_code("J20.9", "Acute bronchitis, unspecified");
  }

  void add_code(const std::string& code, const std::string& description, bool billable = true) {
    auto insert =
        m_db.prepare("INSERT INTO codes (release_id, code, description, billable) VALUES (1, ?, ?, ?)");
    insert.bind_all(code, description, billable ? 1 : 0);
    insert.run();
  }

  fs::path write_jsonl(const std::string& name, const std::vector<std::string>& lines) {
    fs::path path = m_dir / name;
    std::ofstream out(path);
    for (const std::string& line : lines) out << line << "\n";
    return path;
  }

  fs::path small_dataset() {
    std::vector<std::string> lines;
    for (const std::string& sentence : testing::clinical_sentences()) {
      lines.push_back(json{{"text", sentence}, {"codes", {"e1165"}}, {"split", "train"}}.dump());
    }
    lines.push_back(json{{"text", "sugar high"}, {"codes", {"E11.65", "I10"}}, {"split", "val"}}.dump());
    lines.push_back(json{{"text", "cough for a week"}, {"codes", {"J20.9"}}, {"split", "test"}}.dump());
    lines.push_back(json{{"text", "raised pressure"}, {"codes", {"I10"}}}.dump());  // no split: train
    return write_jsonl("pairs.jsonl", lines);
  }

  TokenizeOptions options(const fs::path& dataset) {
    TokenizeOptions result;
    result.dataset = dataset;
    result.out_dir = m_dir / "tokenizer";
    result.vocab_size = 300;
    result.threads = 3;
    return result;
  }

  medcode::testing::TempDir m_dir;
  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(TokenizeDataset, StoresEverySplitInInputOrderWithTheDatasetsCodeDescriptions) {
  TokenizeSummary summary = tokenize_dataset(m_db, options(small_dataset()));
  EXPECT_TRUE(summary.tokenizer_trained);
  EXPECT_TRUE(fs::exists(m_dir / "tokenizer" / "tokenizer.model"));
  EXPECT_EQ(summary.descriptions_release, "ICD-10-CM 2023");
  EXPECT_EQ(summary.description_pairs, 3);  // E11.65, I10, J20.9: the billable codes the dataset names

  std::vector<TokenizedExample> examples = load_token_examples(m_db, summary.token_set_id);
  const std::size_t n_train = testing::clinical_sentences().size() + 1;
  ASSERT_EQ(examples.size(), n_train + 2 + 3);
  EXPECT_EQ(examples[0].text, testing::clinical_sentences()[0]);
  EXPECT_EQ(examples[0].codes, (std::vector<std::string>{"E11.65"}));  // canonical
  EXPECT_EQ(examples[n_train - 1].split, "val");
  EXPECT_EQ(examples[n_train].split, "test");
  EXPECT_EQ(examples[n_train + 1].split, "train");
  EXPECT_EQ(examples[n_train + 2].split, "corpus");
  EXPECT_EQ(examples[n_train + 2].text, "Type 2 diabetes mellitus with hyperglycemia");

  Tokenizer tokenizer = Tokenizer::load(summary.tokenizer_path);
  for (const TokenizedExample& example : examples) {
    PromptExample expected = build_example(tokenizer, example.text, example.codes, std::nullopt, 128);
    EXPECT_EQ(example.input_ids, expected.ids) << example.text;
    EXPECT_EQ(example.loss_mask, expected.loss_mask) << example.text;
  }
}

TEST_F(TokenizeDataset, CountsLengthsPerSplitAndStoresThem) {
  TokenizeSummary summary = tokenize_dataset(m_db, options(small_dataset()));
  ASSERT_EQ(summary.splits.size(), 4u);
  const SplitStats& train = summary.splits[0];
  EXPECT_EQ(train.split, "train");
  EXPECT_EQ(train.examples, static_cast<std::int64_t>(testing::clinical_sentences().size() + 1));
  EXPECT_LE(train.min_length, train.p50_length);
  EXPECT_LE(train.p50_length, train.p95_length);
  EXPECT_LE(train.p95_length, train.max_length);
  EXPECT_NEAR(train.mean_length * static_cast<double>(train.examples), static_cast<double>(train.tokens),
              1e-6);
  EXPECT_EQ(summary.splits[1].split, "val");
  EXPECT_EQ(summary.splits[1].examples, 1);
  EXPECT_EQ(summary.splits[3].split, "corpus");
  TokenSetInfo stored = find_token_set(m_db, "default");
  EXPECT_EQ(stored.stats["train"]["examples"], train.examples);
  EXPECT_EQ(stored.stats["corpus"]["examples"], 3);
  EXPECT_EQ(stored.tokenizer_sha256, summary.tokenizer_sha256);
}

TEST_F(TokenizeDataset, AddsEveryBillableCodeOrNone) {
  TokenizeOptions all = options(small_dataset());
  all.descriptions = DescriptionMode::all;
  add_code("R51.9", "Headache, unspecified");
  EXPECT_EQ(tokenize_dataset(m_db, all).description_pairs, 4);
  TokenizeOptions none = options(small_dataset());
  none.descriptions = DescriptionMode::none;
  TokenizeSummary summary = tokenize_dataset(m_db, none);
  EXPECT_EQ(summary.description_pairs, 0);
  EXPECT_EQ(summary.splits.back().split, "test");
}

TEST_F(TokenizeDataset, TrainsTheSameTokenizerWhateverTheThreadCount) {
  TokenizeOptions one = options(small_dataset());
  one.threads = 1;
  one.out_dir = m_dir / "one";
  TokenizeOptions four = options(small_dataset());
  four.threads = 4;
  four.out_dir = m_dir / "four";
  four.name = "four";
  TokenizeSummary first = tokenize_dataset(m_db, one);
  TokenizeSummary second = tokenize_dataset(m_db, four);
  EXPECT_EQ(first.tokenizer_sha256, second.tokenizer_sha256);
  std::vector<TokenizedExample> a = load_token_examples(m_db, first.token_set_id);
  std::vector<TokenizedExample> b = load_token_examples(m_db, second.token_set_id);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].input_ids, b[i].input_ids) << i;
}

TEST_F(TokenizeDataset, TruncatesLongTextsAndDropsCompletionsThatCannotFit) {
  std::string long_text;
  for (int i = 0; i < 30; ++i) long_text += "worsening essential hypertension, ";
  std::vector<std::string> many_codes(30, "S06.0X1A");
  fs::path dataset = write_jsonl("long.jsonl", {json{{"text", long_text}, {"codes", {"I10"}}}.dump(),
                                                json{{"text", "injury"}, {"codes", many_codes}}.dump(),
                                                json{{"text", "headache"}, {"codes", {"R51.9"}}}.dump()});
  TokenizeOptions opts = options(dataset);
  opts.tokenizer = testing::small_tokenizer().path();
  opts.descriptions = DescriptionMode::none;
  opts.max_length = 56;
  TokenizeSummary summary = tokenize_dataset(m_db, opts);
  EXPECT_FALSE(summary.tokenizer_trained);
  ASSERT_EQ(summary.splits.size(), 1u);
  EXPECT_EQ(summary.splits[0].examples, 2);
  EXPECT_EQ(summary.splits[0].truncated, 1);
  EXPECT_EQ(summary.splits[0].dropped, 1);
  EXPECT_EQ(summary.splits[0].max_length, 56);
  EXPECT_FALSE(fs::exists(m_dir / "tokenizer"));  // nothing trained
}

TEST_F(TokenizeDataset, NamesTheLineOfBadInputAndStoresNothing) {
  fs::path dataset =
      write_jsonl("bad.jsonl", {json{{"text", "fine"}, {"codes", {"I10"}}}.dump(), "{\"text\": "});
  try {
    tokenize_dataset(m_db, options(dataset));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(list_token_sets(m_db).empty());
  EXPECT_FALSE(fs::exists(m_dir / "tokenizer"));
}

TEST_F(TokenizeDataset, RefusesDescriptionsWithoutACodeSet) {
  store::Database empty = store::Database::open_in_memory();
  try {
    tokenize_dataset(empty, options(small_dataset()));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("--descriptions none"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace medcode::text
