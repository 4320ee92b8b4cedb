// End-to-end tests of `medcode score`: blind BM25 scoring of cms-terms entries, a rerun that scores nothing
// new, --check-only and --strict, and bad invocations that leave the store unscored.
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
using testing::ProcessResult;
using testing::run_medcode;
using testing::TempDir;

class ScoreCommand : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), db()); }
  fs::path db() const { return m_dir / "m.db"; }
  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), {{"MEDCODE_CONFIG", ""}});
  }
  std::int64_t count(const std::string& sql) { return testing::query_int(db(), sql); }
  TempDir m_dir;
};

TEST_F(ScoreCommand, ScoresEveryEntryBlindOnceAndReportsQuality) {
  ASSERT_EQ(medcode({"generate", "--limit", "200"}).exit_code, 0);
  std::int64_t entries = count("SELECT count(*) FROM dataset_entries");
  ProcessResult first = medcode({"--json", "score"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto summary = nlohmann::json::parse(first.out);
  EXPECT_EQ(summary["coders"][0]["coder"], "bm25");
  EXPECT_EQ(summary["coders"][0]["scored"], entries);
  EXPECT_EQ(summary["quality"]["labels"]["entries"], entries);
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores WHERE coder = 'bm25' AND score BETWEEN 0 AND 1"),
            entries);
  EXPECT_GT(count("SELECT count(*) FROM entry_scores WHERE match = 'exact'"), 0);

  ProcessResult again = medcode({"--json", "score"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["coders"][0]["scored"], 0);
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores"), entries);
}

TEST_F(ScoreCommand, StrictExitsThreeOnAQualityErrorAndCheckOnlyScoresNothing) {
  ASSERT_EQ(medcode({"generate", "--limit", "50"}).exit_code, 0);
  {
    store::Database store = store::Database::open(db());
    store.exec(
        "INSERT INTO dataset_entries (task, kind, text, source_system, source_year, source_code, model, "
        "created_at) VALUES ('cms-terms', 'index_term', 'cholera, coded A00.0 here', 'icd10cm', 2023, "
        "'A00.0', 'cms', 'now')");
  }
  ProcessResult checked = medcode({"score", "--check-only", "--strict"});
  EXPECT_EQ(checked.exit_code, 3);
  EXPECT_NE(checked.out.find("code_in_text"), std::string::npos) << checked.out;
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores"), 0);
  EXPECT_EQ(medcode({"score", "--check-only"}).exit_code, 0);
}

TEST_F(ScoreCommand, BadInvocationsExitWithTheirCodeAndScoreNothing) {
  EXPECT_EQ(medcode({"score"}).exit_code, 3);  // no entries yet
  ASSERT_EQ(medcode({"generate", "--limit", "20"}).exit_code, 0);
  EXPECT_EQ(medcode({"score", "--coder", "magic"}).exit_code, 2);
  EXPECT_EQ(medcode({"score", "--coder", "llm:no-such-model"}).exit_code, 2);
  EXPECT_EQ(medcode({"score", "--top-k", "0"}).exit_code, 2);
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores"), 0);
}

}  // namespace
}  // namespace medcode
