// End-to-end tests of `medcode export`: CMS-text entries of the real FY2023 store, a few scored by hand,
// exported as files whose line counts match the summary and the store; exit codes of bad options and empty
// stores.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "medcode/store/database.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::query_int;
using testing::run_medcode;
using testing::TempDir;

std::int64_t count_lines(const fs::path& path) {
  std::ifstream in(path);
  std::int64_t lines = 0;
  std::string line;
  while (std::getline(in, line)) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << path << ": " << line;
    ++lines;
  }
  return lines;
}

// Each test works on its own copy of the shared FY2023 store.
class ExportCommand : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), db()); }

  fs::path db() const { return m_dir / "m.db"; }
  fs::path out() const { return m_dir / "export"; }

  ProcessResult medcode(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), env);
  }

  // Scores the first `count` entries 1.0 by a hand-made coder whose best answer is a wrong but real code.
  void score_first_entries(int count) {
    store::Database store = store::Database::open(db(), store::OpenMode::existing_only);
    store::Statement select =
        store.prepare("SELECT id, source_code FROM dataset_entries ORDER BY id LIMIT ?");
    select.bind(1, count);
    store::Statement insert = store.prepare(
        "INSERT INTO entry_scores (entry_id, coder, score, match, source_rank, answer, scored_at) "
        "VALUES (?, 'hand', 1.0, 'ranked', 2, ?, 'now')");
    while (select.step()) {
      std::string source = select.column_text(1);
      std::string wrong = source == "A00.0" ? "A00.1" : "A00.0";
      nlohmann::json answer = {{{"code", wrong}, {"score", 0.9}}, {{"code", source}, {"score", 0.8}}};
      insert.bind_all(select.column_int64(0), answer.dump());
      insert.run();
    }
  }

  TempDir m_dir;
};

TEST_F(ExportCommand, WritesEveryFileWithTheCountsOfTheStore) {
  ProcessResult generate = medcode({"generate", "--task", "cms-terms", "--limit", "300"});
  ASSERT_EQ(generate.exit_code, 0) << generate.err;
  score_first_entries(5);

  ProcessResult result = medcode({"export", "--out", out().string(), "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json summary = nlohmann::json::parse(result.out);
  std::int64_t entries = query_int(db(), "SELECT count(*) FROM dataset_entries");
  EXPECT_GT(entries, 100);
  EXPECT_EQ(summary["entries"], entries);
  EXPECT_EQ(summary["entries_unscored"], entries - 5);
  EXPECT_EQ(summary["golden"], 5);
  EXPECT_EQ(summary["sft"], 5);
  EXPECT_EQ(summary["dpo_pairs"], 5);
  EXPECT_EQ(summary["train"].get<int>() + summary["val"].get<int>() + summary["test"].get<int>(), 5);

  ASSERT_EQ(summary["files"].size(), 7u);
  for (const nlohmann::json& file : summary["files"]) {
    fs::path path = file["path"].get<std::string>();
    EXPECT_EQ(path.parent_path(), out());
    EXPECT_EQ(count_lines(path), file["lines"].get<std::int64_t>()) << path;
  }
  EXPECT_EQ(count_lines(out() / "descriptions-to-codes.all.jsonl"), entries);
  EXPECT_EQ(count_lines(out() / "dpo.jsonl"), 5);
  std::ifstream dpo(out() / "dpo.jsonl");
  std::string line;
  std::getline(dpo, line);
  std::string rejected = nlohmann::json::parse(line)["rejected"];
  EXPECT_TRUE(rejected.rfind("A00.0 Cholera", 0) == 0 || rejected.rfind("A00.1 Cholera", 0) == 0) << rejected;

  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM runs WHERE command = 'export' AND status = 'ok'"), 1);
  EXPECT_EQ(query_int(db(), "SELECT json_extract(counters, '$.golden') FROM runs WHERE command = 'export'"),
            5);
}

TEST_F(ExportCommand, PrintsEachFileWithItsLineCountAndTakesTheFolderFromTheEnvironment) {
  ASSERT_EQ(medcode({"generate", "--task", "cms-terms", "--limit", "20"}).exit_code, 0);
  ProcessResult result = medcode({"export"}, {{"MEDCODE_EXPORT_DIR", out().string()}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find((out() / "sft.jsonl").string()), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("0 golden"), std::string::npos) << result.out;
  EXPECT_TRUE(fs::exists(out() / "descriptions-to-codes.golden.train.jsonl"));
}

TEST_F(ExportCommand, AMinimumQualityOutsideZeroToOneIsAUsageError) {
  ProcessResult result = medcode({"export", "--out", out().string(), "--min-quality", "1.5"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_FALSE(fs::exists(out()));
}

TEST_F(ExportCommand, AStoreWithoutEntriesIsBadInputAndWritesNothing) {
  ProcessResult result = medcode({"export", "--out", out().string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("medcode generate"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(out()));
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM runs WHERE command = 'export' AND status = 'failed'"), 1);
}

}  // namespace
}  // namespace medcode
