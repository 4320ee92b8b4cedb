// Tests of token sets in the store: ids and masks survive the BLOB round trip, order and splits are kept, a
// set of the same name is replaced whole, and an unknown name is an error that lists the known ones.
#include "medcode/text/token_set.h"

#include <gtest/gtest.h>

#include "medcode/util/error.h"

namespace medcode::text {
namespace {

TokenizedExample example(std::string split, std::string text, std::vector<std::int32_t> ids,
                         std::size_t n_prompt) {
  TokenizedExample result;
  result.split = std::move(split);
  result.text = std::move(text);
  result.codes = {"E11.65", "I10"};
  result.input_ids = std::move(ids);
  result.loss_mask.assign(result.input_ids.size(), 0);
  for (std::size_t i = n_prompt; i < result.input_ids.size(); ++i) result.loss_mask[i] = 1;
  result.n_prompt = n_prompt;
  return result;
}

TokenSetInfo info(std::string name) {
  TokenSetInfo result;
  result.name = std::move(name);
  result.tokenizer_path = "/models/tokenizer.model";
  result.tokenizer_sha256 = std::string(64, 'a');
  result.vocab_size = 4000;
  result.max_length = 128;
  result.stats = {{"train", {{"examples", 2}}}};
  result.source = {"/data/train.jsonl"};
  return result;
}

class TokenSetStore : public ::testing::Test {
 protected:
  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(TokenSetStore, KeepsIdsMasksAndOrderThroughTheStore) {
  std::vector<TokenizedExample> examples = {
      example("train", "first", {2, 70000, -1, 4, 3}, 3),
      example("val", "second", {2, 9, 3}, 2),
      example("train", "third", {2, 1 << 30, 5, 3}, 2),
  };
  examples[2].truncated = true;
  std::int64_t id = save_token_set(m_db, info("default"), examples);

  std::vector<TokenizedExample> all = load_token_examples(m_db, id);
  ASSERT_EQ(all.size(), 3u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].text, examples[i].text);
    EXPECT_EQ(all[i].split, examples[i].split);
    EXPECT_EQ(all[i].codes, examples[i].codes);
    EXPECT_EQ(all[i].input_ids, examples[i].input_ids);
    EXPECT_EQ(all[i].loss_mask, examples[i].loss_mask);
    EXPECT_EQ(all[i].n_prompt, examples[i].n_prompt);
    EXPECT_EQ(all[i].truncated, examples[i].truncated);
  }
  std::vector<TokenizedExample> train = load_token_examples(m_db, id, "train");
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train[0].text, "first");
  EXPECT_EQ(train[1].text, "third");
  EXPECT_TRUE(load_token_examples(m_db, id, "test").empty());
}

TEST_F(TokenSetStore, StoresIdsAsLittleEndianInt32Blobs) {
  std::int64_t id = save_token_set(m_db, info("default"), {example("train", "t", {2, 258, 3}, 2)});
  store::Statement select = m_db.prepare(
      "SELECT typeof(input_ids), length(input_ids), hex(input_ids), typeof(loss_mask), hex(loss_mask) "
      "FROM token_examples WHERE token_set_id = ?");
  select.bind(1, id);
  ASSERT_TRUE(select.step());
  EXPECT_EQ(select.column_text(0), "blob");
  EXPECT_EQ(select.column_int64(1), 12);
  EXPECT_EQ(select.column_text(2), "020000000201000003000000");
  EXPECT_EQ(select.column_text(3), "blob");
  EXPECT_EQ(select.column_text(4), "000001");
}

TEST_F(TokenSetStore, FindsAndListsTokenSetsWithTheirDescription) {
  save_token_set(m_db, info("b"), {example("train", "t", {2, 3}, 1)});
  save_token_set(m_db, info("a"), {});
  std::vector<TokenSetInfo> sets = list_token_sets(m_db);
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].name, "a");
  EXPECT_EQ(sets[1].name, "b");
  TokenSetInfo found = find_token_set(m_db, "b");
  EXPECT_EQ(found.tokenizer_path, "/models/tokenizer.model");
  EXPECT_EQ(found.tokenizer_sha256, std::string(64, 'a'));
  EXPECT_EQ(found.vocab_size, 4000);
  EXPECT_EQ(found.max_length, 128);
  EXPECT_EQ(found.stats["train"]["examples"], 2);
  EXPECT_EQ(found.source, nlohmann::json::array({"/data/train.jsonl"}));
  EXPECT_FALSE(found.created_at.empty());
}

TEST_F(TokenSetStore, ReplacesATokenSetOfTheSameNameWithItsExamples) {
  save_token_set(m_db, info("default"),
                 {example("train", "old", {2, 3}, 1), example("val", "old", {2, 3}, 1)});
  TokenSetInfo again = info("default");
  again.vocab_size = 500;
  std::int64_t second = save_token_set(m_db, again, {example("train", "new", {2, 5, 3}, 1)});
  store::Statement count = m_db.prepare("SELECT count(*) FROM token_examples");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.column_int64(0), 1);
  std::vector<TokenizedExample> examples = load_token_examples(m_db, second);
  ASSERT_EQ(examples.size(), 1u);
  EXPECT_EQ(examples[0].text, "new");
  EXPECT_EQ(list_token_sets(m_db).size(), 1u);
  EXPECT_EQ(find_token_set(m_db, "default").vocab_size, 500);
}

TEST_F(TokenSetStore, NamesTheKnownTokenSetsWhenOneIsMissing) {
  save_token_set(m_db, info("small"), {});
  try {
    find_token_set(m_db, "large");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("small"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace medcode::text
