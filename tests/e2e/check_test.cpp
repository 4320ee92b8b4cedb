// End-to-end tests of `medcode check`: fixture files of each format checked against a copy of the real FY2023
// store (findings with their lines, exit codes with and without --strict, --json), a missing file, no store,
// and the files a real generate → score → export writes, which must pass.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "medcode/util/hash.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::run_medcode;
using testing::TempDir;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class CheckCommand : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), db()); }
  fs::path db() const { return m_dir / "m.db"; }
  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), {{"MEDCODE_CONFIG", ""}});
  }
  TempDir m_dir;
};

TEST_F(CheckCommand, ACleanPairsFilePassesUnderStrictAndLeavesTheStoreAsItWas) {
  std::string before = util::sha256_file_hex(db());
  std::int64_t runs = testing::query_int(db(), "SELECT count(*) FROM runs");
  ProcessResult result = medcode({"check", fixture("check/clean_pairs.jsonl").string(), "--strict"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_TRUE(contains(result.out, "4 lines, 4 items checked (pairs format, detected); 0 errors, 0 warnings"))
      << result.out;
  EXPECT_TRUE(contains(result.out, "codes: 4 looked up in")) << result.out;
  EXPECT_EQ(util::sha256_file_hex(db()), before);
  EXPECT_EQ(testing::query_int(db(), "SELECT count(*) FROM runs"), runs);
}

TEST_F(CheckCommand, ABadPairsFileListsEachFindingByLineAndFailsOnlyUnderStrict) {
  std::string file = fixture("check/bad_pairs.jsonl").string();
  ProcessResult report = medcode({"check", file});
  EXPECT_EQ(report.exit_code, 0) << report.err;
  for (const std::string& line : {
           file + ":2: error: not valid JSON [not_json]",
           file + ":3: error: field `codes` is missing [missing_field]",
           file + ":4: error: `codes[0]`: E11.99 is not a code of ICD-10-CM 2023 [invalid_code]",
           file + ":5: warning: the same text as line 1 [exact_duplicate]",
           file + ":6: error: the text gives its code A00.0 away [code_in_text]",
           file + ":7: warning: unknown field `colour` [unknown_field]",
           file + ":8: error: field `codes` is an empty array [empty_codes]",
       }) {
    EXPECT_TRUE(contains(report.out, line + "\n")) << line << "\n" << report.out;
  }
  EXPECT_TRUE(contains(report.out, "5 errors, 2 warnings")) << report.out;

  ProcessResult strict = medcode({"check", file, "--strict"});
  EXPECT_EQ(strict.exit_code, 3);
  EXPECT_TRUE(contains(strict.err, "5 errors (--strict)")) << strict.err;
}

TEST_F(CheckCommand, JsonHoldsEveryFindingAndTheCounts) {
  ProcessResult result = medcode({"--json", "check", fixture("check/bad_pairs.jsonl").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json report = nlohmann::json::parse(result.out);
  ASSERT_EQ(report["findings"].size(), 7u);
  EXPECT_EQ(report["findings"][0],
            nlohmann::json(
                {{"line", 2}, {"severity", "error"}, {"check", "not_json"}, {"message", "not valid JSON"}}));
  EXPECT_EQ(report["findings"][2]["line"], 4);
  EXPECT_EQ(report["findings"][2]["check"], "invalid_code");
  EXPECT_EQ(report["format"], "pairs");
  EXPECT_EQ(report["lines"], 8);
  EXPECT_EQ(report["errors"], 5);
  EXPECT_EQ(report["warnings"], 2);
  EXPECT_EQ(report["checks"]["invalid_code"]["count"], 1);
  EXPECT_EQ(report["labels"]["codes"], 4);  // E11.9, E11.99, A00.0, N39.0

  ProcessResult clean = medcode({"--json", "check", fixture("check/clean_pairs.jsonl").string()});
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  nlohmann::json clean_report = nlohmann::json::parse(clean.out);
  EXPECT_TRUE(clean_report["findings"].empty());
  EXPECT_EQ(clean_report["errors"], 0);
}

TEST_F(CheckCommand, SftAndDpoFilesAreDetectedAndChecked) {
  std::string sft = fixture("check/sft.jsonl").string();
  ProcessResult chat = medcode({"check", sft, "--strict"});
  EXPECT_EQ(chat.exit_code, 3);
  EXPECT_TRUE(contains(chat.out, "(sft format, detected)")) << chat.out;
  EXPECT_TRUE(contains(
      chat.out, sft + ":3: error: the last message is from the user, not the assistant [message_order]\n"))
      << chat.out;
  EXPECT_TRUE(contains(chat.out, "1 errors, 0 warnings")) << chat.out;

  std::string dpo = fixture("check/dpo.jsonl").string();
  ProcessResult pairs = medcode({"check", dpo, "--format", "dpo"});
  EXPECT_EQ(pairs.exit_code, 0);
  EXPECT_TRUE(
      contains(pairs.out, dpo + ":2: error: `chosen` and `rejected` are the same answer [same_answer]\n"))
      << pairs.out;
  EXPECT_TRUE(contains(pairs.out, "(dpo format)")) << pairs.out;
}

TEST_F(CheckCommand, AMissingFileIsOneLineAndExitThree) {
  ProcessResult result = medcode({"check", (m_dir / "nowhere.jsonl").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_TRUE(contains(result.err, "nowhere.jsonl: no such file")) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_EQ(medcode({"check", fixture("check/sft.jsonl").string(), "--format", "csv"}).exit_code, 2);
}

TEST_F(CheckCommand, WithoutAStoreCodesAreSkippedWithANoteAndNoStoreIsMade) {
  TempDir elsewhere;
  ProcessResult result = run_medcode({"check", fixture("check/bad_pairs.jsonl").string()}, elsewhere.path(),
                                     {{"MEDCODE_DB", ""}, {"MEDCODE_CONFIG", ""}});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "note: no store at medcode.db: 5 codes not looked up in a release"))
      << result.out;
  EXPECT_FALSE(contains(result.out, "invalid_code")) << result.out;
  EXPECT_FALSE(fs::exists(elsewhere / "medcode.db"));
}

TEST_F(CheckCommand, TheFilesOfARealExportPassUnderStrict) {
  ASSERT_EQ(medcode({"generate", "--task", "cms-terms", "--limit", "20"}).exit_code, 0);
  ProcessResult score = medcode({"score"});
  ASSERT_EQ(score.exit_code, 0) << score.err;
  fs::path out = m_dir / "export";
  ProcessResult exported = medcode({"export", "--out", out.string(), "--min-quality", "0"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  for (const char* name : {"descriptions-to-codes.golden.jsonl", "sft.jsonl", "dpo.jsonl"}) {
    ProcessResult result = medcode({"check", (out / name).string(), "--strict"});
    EXPECT_EQ(result.exit_code, 0) << name << "\n" << result.out << result.err;
  }
  ProcessResult golden = medcode({"--json", "check", (out / "descriptions-to-codes.golden.jsonl").string()});
  nlohmann::json report = nlohmann::json::parse(golden.out);
  EXPECT_EQ(report["format"], "pairs");
  EXPECT_GT(report["items"], 0);
  EXPECT_EQ(report["items"], report["lines"]);
  EXPECT_EQ(report["codes_looked_up"], report["items"]);
}

}  // namespace
}  // namespace medcode
