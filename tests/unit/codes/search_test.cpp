// Tests of full-text code search: safe FTS5 query building from free text, ranking, fallback and filters.
#include <gtest/gtest.h>

#include "medcode/codes/search.h"
#include "medcode/util/error.h"
#include "sample_release.h"

namespace medcode::codes {
namespace {

class SearchTest : public ::testing::Test {
 protected:
  void SetUp() override { sample::build(m_db); }

  SearchResult search(std::string_view text, SearchOptions options = {},
                      std::optional<int> year = std::nullopt) {
    return search_codes(m_db, find_release(m_db, System::icd10cm, year), text, options);
  }

  store::Database m_db = store::Database::open_in_memory();
};

ExitCode exit_code_of_query(std::string_view text) {
  try {
    build_fts_query(text);
  } catch (const Error& error) {
    return error.code();
  }
  return ExitCode::ok;
}

TEST(FtsQuery, QuotesEveryWordAndMakesTheLastAPrefix) {
  FtsQuery query = build_fts_query("type 2 diabetes");
  EXPECT_EQ(query.all_words, R"("type" AND "2" AND "diabetes"*)");
  EXPECT_EQ(query.all_words_widened, R"("type" AND "2" AND ("diabetes"* OR "diabete"*))");
  EXPECT_EQ(query.any_word, R"("type" OR "2" OR "diabetes"*)");
  EXPECT_EQ(query.any_word_widened, R"("type" OR "2" OR ("diabetes"* OR "diabete"*))");
  EXPECT_EQ(query.words, (std::vector<std::string>{"type", "2", "diabetes"}));
}

TEST(FtsQuery, KeepsDotsHyphensAndQuotesInsideQuotedStrings) {
  EXPECT_EQ(build_fts_query("E11.9").all_words, R"("E11.9"*)");
  EXPECT_EQ(build_fts_query("type-2").all_words, R"("type-2"*)");
  EXPECT_EQ(build_fts_query("E11.9").all_words_widened, "") << "a last word ending in a digit is not widened";
  EXPECT_EQ(build_fts_query(R"(say "hi)").all_words, R"("say" AND """hi"*)");
}

TEST(FtsQuery, DropsWordsWithoutLettersOrDigits) {
  EXPECT_EQ(build_fts_query("asthma - ( ) \"").all_words, R"("asthma"*)");
}

TEST(FtsQuery, TextWithoutLettersOrDigitsIsAUsageError) {
  EXPECT_EQ(exit_code_of_query(""), ExitCode::usage);
  EXPECT_EQ(exit_code_of_query("   "), ExitCode::usage);
  EXPECT_EQ(exit_code_of_query(R"(" - * ( ))"), ExitCode::usage);
}

TEST_F(SearchTest, RanksCodesWhoseDescriptionMatchesFirst) {
  SearchResult result = search("type 2 diabetes");
  ASSERT_FALSE(result.hits.empty());
  EXPECT_FALSE(result.any_word_fallback);
  EXPECT_EQ(result.hits[0].code.substr(0, 3), "E11");
  EXPECT_EQ(result.hits[0].rank, 1);
  EXPECT_EQ(result.hits[0].matched, "all_words");
  for (const auto& hit : result.hits) EXPECT_NE(hit.code.substr(0, 3), "E10") << "every word must match";
}

TEST_F(SearchTest, PunctuationAndQuerySyntaxInUserTextNeverBreakTheQuery) {
  for (std::string text : {"\"type 2", "type \"2\" diabetes", "E11.9", "NEAR(diabetes", "diabetes AND OR NOT",
                           "description:diabetes", "diabetes*", "^diabetes", "diabetes)", "it's",
                           "{type} [2]", "type-2 diabetes", "- diabetes", "diabète", "diabetes\ttype\n2"}) {
    EXPECT_NO_THROW(search(text)) << text;
  }
  EXPECT_FALSE(search("type-2 diabetes").hits.empty());
  EXPECT_FALSE(search("\"type 2 diabetes").hits.empty());
}

TEST_F(SearchTest, PrefixMatchesTheLastWordEvenWhenStemmingSpoilsIt) {
  EXPECT_FALSE(search("diab").hits.empty());
  SearchResult result = search("hypogly");
  ASSERT_FALSE(result.hits.empty());
  EXPECT_EQ(result.hits[0].code.substr(0, 6), "E11.64");
}

TEST_F(SearchTest, FallsBackToAnyWordWhenNoCodeMatchesEveryWord) {
  SearchResult result = search("concussion zebra");
  EXPECT_TRUE(result.any_word_fallback);
  ASSERT_FALSE(result.hits.empty());
  EXPECT_EQ(result.hits[0].matched, "any_word");
  EXPECT_EQ(result.hits[0].code.substr(0, 5), "S06.0");
  EXPECT_TRUE(search("zebra").hits.empty());
}

TEST_F(SearchTest, FindsCodesThroughInclusionTermsAndIndexTerms) {
  SearchResult inclusion = search("commotio");
  ASSERT_EQ(inclusion.hits.size(), 1u);
  EXPECT_EQ(inclusion.hits[0].code, "S06.0");
  SearchResult index = search("juvenile");
  ASSERT_EQ(index.hits.size(), 1u);
  EXPECT_EQ(index.hits[0].code, "E10.9");
}

TEST_F(SearchTest, BillableOnlyLeavesHeadersOut) {
  SearchOptions options;
  options.billable_only = true;
  SearchResult result = search("diabetes", options);
  ASSERT_FALSE(result.hits.empty());
  for (const auto& hit : result.hits) EXPECT_TRUE(hit.billable) << hit.code;
}

TEST_F(SearchTest, RespectsTheLimitAndRejectsOneBelowOne) {
  SearchOptions options;
  options.limit = 2;
  EXPECT_EQ(search("diabetes", options).hits.size(), 2u);
  options.limit = 0;
  try {
    search("diabetes", options);
    FAIL() << "expected a usage error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::usage);
  }
}

TEST_F(SearchTest, SearchesOnlyTheChosenRelease) {
  EXPECT_EQ(search("hyperglycemia").hits.size(), 1u);
  EXPECT_TRUE(search("hyperglycemia", {}, 2022).hits.empty());
  SearchResult older = search("type 2 without complications", {}, 2022);
  ASSERT_FALSE(older.hits.empty());
  EXPECT_EQ(older.hits[0].description, "Type 2 diabetes mellitus without complications (2022)");
}

TEST_F(SearchTest, TextThatIsACodePutsThatCodeFirst) {
  SearchResult result = search("e119");
  ASSERT_FALSE(result.hits.empty());
  EXPECT_EQ(result.hits[0].code, "E11.9");
  EXPECT_EQ(result.hits[0].matched, "code");
  nlohmann::json json = to_json(result.hits[0]);
  EXPECT_EQ(json["rank"], 1);
  EXPECT_EQ(json["billable"], true);
}

}  // namespace
}  // namespace medcode::codes
