// Tests of scoring: the BM25 coder, the round-trip score by rank and hierarchy, and the quality checks.
#include "medcode/dataset/score.h"

#include <gtest/gtest.h>

#include "medcode/codes/import.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::dataset {
namespace {

std::vector<eval::RankedCode> answer_of(std::vector<std::string> codes) {
  std::vector<eval::RankedCode> answer;
  for (auto& code : codes) answer.push_back({std::move(code), 1.0});
  return answer;
}

TEST(ScoreAnswer, FirstIsOneLowerRanksFromNineTenthsToSevenTenths) {
  EXPECT_DOUBLE_EQ(score_answer("E11.9", "E11", answer_of({"E11.9", "I10"}), 10).score, 1.0);
  RoundTripScore second = score_answer("E11.9", "E11", answer_of({"I10", "E11.9"}), 10);
  EXPECT_DOUBLE_EQ(second.score, 0.9);
  EXPECT_EQ(second.match, MatchKind::ranked);
  EXPECT_EQ(second.source_rank, 2);
  std::vector<std::string> ten = {"A00.0", "A00.1", "A01.0", "A01.1", "A02.0",
                                  "A02.1", "A03.0", "A03.1", "A04.0", "E11.9"};
  EXPECT_NEAR(score_answer("E11.9", "E11", answer_of(ten), 10).score, 0.7, 1e-12);
}

TEST(ScoreAnswer, SiblingsScoreAboveCategoryAboveBlockAboveNothing) {
  RoundTripScore sibling = score_answer("E11.65", "E11.6", answer_of({"I10", "E11.69"}), 10);
  EXPECT_EQ(sibling.match, MatchKind::partial);
  EXPECT_GT(sibling.score, 0.6);
  EXPECT_LE(sibling.score, 0.7);
  RoundTripScore category = score_answer("E11.65", "E11.6", answer_of({"E11.9"}), 10);
  EXPECT_EQ(category.match, MatchKind::partial);
  EXPECT_GE(category.score, 0.5);
  EXPECT_LE(category.score, 0.6);
  EXPECT_DOUBLE_EQ(score_answer("E11.65", "E11.6", answer_of({"E78.5"}), 10).score, 0.25);
  RoundTripScore none = score_answer("E11.65", "E11.6", answer_of({"I10"}), 10);
  EXPECT_EQ(none.match, MatchKind::none);
  EXPECT_DOUBLE_EQ(none.score, 0.0);
  EXPECT_FALSE(none.source_rank);
}

TEST(Bm25Terms, LowerCasesDropsStopWordsAndFoldsPlurals) {
  EXPECT_EQ(eval::bm25_terms("Fractures of the Neck and INJURIES, with diabetes"),
            (std::vector<std::string>{"fracture", "neck", "injury", "diabetes"}));
}

class ScoreStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codes::ImportOptions import;
    import.year = 2023;
    import.paths = {testing::fixture("icd10cm/tabular_mini.xml"), testing::fixture("icd10cm/index_mini.xml")};
    codes::import_icd10cm(m_db, import);
    m_release = *codes::try_find_release(m_db, codes::System::icd10cm, 2023);
  }
  std::string code_with_description(std::string& description) {
    auto statement =
        m_db.prepare("SELECT code, description FROM codes WHERE billable = 1 ORDER BY code LIMIT 1");
    statement.step();
    description = statement.column_text(1);
    return statement.column_text(0);
  }
  void add_entry(const std::string& text, const std::string& code) {
    m_db.prepare(
            "INSERT INTO dataset_entries (task, kind, text, source_system, source_year, source_code, model, "
            "created_at) VALUES ('cms-terms', 'index_term', ?, 'icd10cm', 2023, ?, 'cms', 'now')")
        .bind_all(text, code)
        .run();
  }

  store::Database m_db = store::Database::open_in_memory();
  codes::ReleaseInfo m_release;
};

TEST_F(ScoreStoreTest, Bm25FindsACodeFromItsWordsButNotFromItsOwnTextVerbatim) {
  auto coder = eval::Bm25Coder::build(m_db, m_release, false);
  std::string description;
  std::string code = code_with_description(description);
  auto verbatim = coder->code(description, 5);
  EXPECT_TRUE(std::none_of(verbatim.begin(), verbatim.end(), [&](const eval::RankedCode& r) {
    return r.code == code;
  })) << "a text identical to the description must not find its code by identity";
  auto reworded = coder->code(description + " noted today", 5);
  ASSERT_FALSE(reworded.empty());
  EXPECT_EQ(reworded[0].code, code);
  EXPECT_GE(eval::Bm25Coder::build(m_db, m_release, true)->documents(), coder->documents());
}

TEST_F(ScoreStoreTest, ScoresEveryEntryOnceAndARerunScoresNothingNew) {
  std::string description;
  std::string code = code_with_description(description);
  add_entry(description + " noted today", code);
  add_entry("completely unrelated words xyzzy", code);
  ScoreSummary first = score_entries(m_db, ScoreOptions{});
  ASSERT_EQ(first.coders.size(), 1u);
  EXPECT_EQ(first.coders[0].scored, 2);
  EXPECT_EQ(first.coders[0].exact, 1);
  EXPECT_EQ(testing::query_int(m_db, "SELECT count(*) FROM entry_scores WHERE coder = 'bm25'"), 2);
  EXPECT_EQ(testing::query_text(m_db, "SELECT match FROM entry_scores ORDER BY entry_id LIMIT 1"), "exact");
  ScoreSummary second = score_entries(m_db, ScoreOptions{});
  EXPECT_EQ(second.coders[0].scored, 0);
  EXPECT_EQ(second.coders[0].already, 2);
}

TEST_F(ScoreStoreTest, UnknownCoderAndNothingToScoreAreErrors) {
  ScoreOptions options;
  options.coders = {"magic"};
  add_entry("some text here", "A00.0");
  EXPECT_THROW(score_entries(m_db, options), Error);
  m_db.exec("DELETE FROM dataset_entries");
  EXPECT_THROW(score_entries(m_db, ScoreOptions{}), Error);
}

TEST_F(ScoreStoreTest, QualityChecksFlagEmptyShortGivenAwayDuplicateConflictingAndInvalidEntries) {
  std::string description;
  std::string code = code_with_description(description);
  add_entry("   ", code);
  add_entry("tiny", code);
  add_entry("patient coded as " + code + " today", code);
  add_entry("a long enough description", code);
  add_entry("A long enough  description", code);    // exact duplicate after case and spaces
  add_entry("description long enough, a", code);    // the same words in another order
  add_entry("a long enough description", "ZZZ.9");  // conflicting label, and no such code
  QualityReport report = check_quality(m_db, std::nullopt, 42);
  std::map<std::string, std::int64_t> counts;
  for (const auto& finding : report.findings) counts[finding.check] = finding.count;
  EXPECT_EQ(counts["empty_text"], 1);
  EXPECT_EQ(counts["short_text"], 1);
  EXPECT_EQ(counts["code_in_text"], 1);
  EXPECT_EQ(counts["exact_duplicate"], 1);
  EXPECT_EQ(counts["near_duplicate"], 1);
  EXPECT_EQ(counts["conflicting_labels"], 1);
  EXPECT_EQ(counts["invalid_code"], 1);
  EXPECT_TRUE(report.has_errors());
  EXPECT_EQ(report.labels.codes, 2);
  EXPECT_EQ(report.labels.max_per_code, 6);
}

}  // namespace
}  // namespace medcode::dataset
