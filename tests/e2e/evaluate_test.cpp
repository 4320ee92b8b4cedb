// End-to-end tests of `medcode evaluate`: the majority and bm25 baselines on a fixture dataset of real
// ICD-10-CM 2023 codes over the shared FY2023 store, the evaluations row and run they record, the readable
// table, and bad invocations (malformed or missing files, unknown baselines, not exactly one coder).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

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

const std::string k_test_file = "descriptions-to-codes.golden.test.jsonl";

class EvaluateCommand : public ::testing::Test {
 protected:
  // Evaluations are written to the store: each test works on its own copy.
  void SetUp() override {
    fs::copy_file(testing::icd10cm_2023_store(), db());
    for (const auto& entry : fs::directory_iterator(fixture("evaluate"))) {
      fs::copy_file(entry.path(), m_dir / entry.path().filename().string());
    }
  }
  fs::path db() const { return m_dir / "m.db"; }
  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), {{"MEDCODE_CONFIG", ""}});
  }
  nlohmann::json evaluate_json(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "evaluate", "--dataset", k_test_file});
    ProcessResult result = medcode(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? nlohmann::json::parse(result.out) : nlohmann::json::object();
  }
  std::int64_t count(const std::string& sql) { return testing::query_int(db(), sql); }
  TempDir m_dir;
};

TEST_F(EvaluateCommand, MajorityPredictsTheMostFrequentTrainingCodeFromTheGoldenTrainFileBeside) {
  nlohmann::json result = evaluate_json({"--baseline", "majority"});
  // I10 (3 of 6 training examples) for all 6 test examples, 7 gold codes: one hit.
  EXPECT_EQ(result["coder"], "majority");
  EXPECT_EQ(result["n_examples"], 6);
  EXPECT_EQ(result["n_gold"], 7);
  EXPECT_EQ(result["n_labels"], 7);
  EXPECT_EQ(result["micro"]["true_positives"], 1);
  EXPECT_EQ(result["micro"]["false_positives"], 5);
  EXPECT_EQ(result["micro"]["false_negatives"], 6);
  EXPECT_DOUBLE_EQ(result["micro"]["f1"].get<double>(), 2.0 / 13.0);
  EXPECT_DOUBLE_EQ(result["macro"]["f1"].get<double>(), 2.0 / 49.0);  // I10's 2/7 over 7 codes
  EXPECT_DOUBLE_EQ(result["exact_match"].get<double>(), 1.0 / 6.0);
  ASSERT_EQ(result["at_k"].size(), 3U);
  EXPECT_DOUBLE_EQ(result["at_k"][0]["precision"].get<double>(), 1.0 / 6.0);
  // E11.9 and J45.909 follow I10: J45.909 is no gold code here, so @3 finds nothing more.
  EXPECT_DOUBLE_EQ(result["at_k"][1]["recall"].get<double>(), 1.0 / 6.0);
  // Chapters of the FY2023 release: 4 (E11.65), 6 (G43.009), 9 (I10), 10 (J18.9, J20.9, J45.901), 14 (N39.0).
  std::vector<std::string> chapters;
  for (const auto& row : result["chapters"]) chapters.push_back(row["chapter"].get<std::string>());
  EXPECT_EQ(chapters, (std::vector<std::string>{"4", "6", "9", "10", "14"}));
  EXPECT_EQ(result["chapters"][3]["support"], 3);
  EXPECT_DOUBLE_EQ(result["chapters"][2]["precision"].get<double>(), 1.0 / 6.0);

  EXPECT_EQ(count("SELECT count(*) FROM evaluations WHERE coder = 'majority' AND n_examples = 6"), 1);
  EXPECT_EQ(testing::query_text(db(), "SELECT dataset FROM evaluations"),
            fs::weakly_canonical(m_dir / k_test_file).string());
  EXPECT_EQ(count("SELECT json_extract(result, '$.micro.true_positives') FROM evaluations"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM runs r JOIN evaluations e ON e.run_id = r.id WHERE r.command = "
                  "'evaluate' AND r.status = 'ok' AND json_extract(r.counters, '$.evaluation_id') = e.id"),
            1);
}

TEST_F(EvaluateCommand, MajorityTrainsOnlyOnTheTrainSplitOfAFileWithEverySplit) {
  // all-splits.jsonl adds four val examples of N39.0, which would outnumber I10 if they counted.
  nlohmann::json result = evaluate_json({"--baseline", "majority", "--train", "all-splits.jsonl"});
  EXPECT_EQ(result["micro"]["true_positives"], 1);
  EXPECT_EQ(result["chapters"][2]["true_positives"], 1);  // I10, chapter 9
}

TEST_F(EvaluateCommand, Bm25RanksTheReleaseAndHonoursKSplitAndLimit) {
  nlohmann::json result = evaluate_json({"--baseline", "bm25", "--k", "1,10", "--split", "test"});
  EXPECT_EQ(result["coder"], "bm25");
  EXPECT_EQ(result["n_examples"], 6);
  EXPECT_EQ(result["n_predicted"], 6);  // its top code for each
  ASSERT_EQ(result["at_k"].size(), 2U);
  EXPECT_EQ(result["at_k"][1]["k"], 10);
  EXPECT_GT(result["micro"]["true_positives"].get<int>(), 0);
  EXPECT_GE(result["at_k"][1]["recall"].get<double>(), result["at_k"][0]["recall"].get<double>());
  EXPECT_EQ(count("SELECT count(*) FROM evaluations WHERE coder = 'bm25'"), 1);

  nlohmann::json limited = evaluate_json({"--baseline", "bm25", "--limit", "2"});
  EXPECT_EQ(limited["n_examples"], 2);
  EXPECT_EQ(count("SELECT count(*) FROM evaluations"), 2);
}

TEST_F(EvaluateCommand, CoderTakesAnyCoderNameWithBaselineAndModelItsShorthands) {
  nlohmann::json by_baseline = evaluate_json({"--baseline", "bm25"});
  nlohmann::json by_name = evaluate_json({"--coder", "bm25"});
  EXPECT_EQ(by_name["coder"], "bm25");
  EXPECT_EQ(by_name["micro"], by_baseline["micro"]);
  EXPECT_EQ(by_name["map"], by_baseline["map"]);
  EXPECT_TRUE(by_name["n_gold_unknown"].is_null());  // a JSONL file's gold is not checked against a release
  EXPECT_EQ(evaluate_json({"--coder", "majority"})["micro"]["true_positives"], 1);
}

TEST_F(EvaluateCommand, PrintsAReadableTableWithoutJson) {
  ProcessResult result = medcode({"evaluate", "--dataset", k_test_file, "--baseline", "majority"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("majority on descriptions-to-codes.golden.test.jsonl: 6 examples"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("micro            0.167     0.143     0.154"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("exact match      0.167"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("@5"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("chapter"), std::string::npos) << result.out;
}

TEST_F(EvaluateCommand, AMalformedLineOrMissingFileExitsThreeNamingIt) {
  ProcessResult malformed = medcode({"evaluate", "--dataset", "malformed.jsonl", "--baseline", "bm25"});
  EXPECT_EQ(malformed.exit_code, 3);
  EXPECT_NE(malformed.err.find("malformed.jsonl:3"), std::string::npos) << malformed.err;
  ProcessResult missing = medcode({"evaluate", "--dataset", "no-such.jsonl", "--baseline", "bm25"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_NE(missing.err.find("no-such.jsonl"), std::string::npos) << missing.err;
  ProcessResult bad_train =
      medcode({"evaluate", "--dataset", k_test_file, "--baseline", "majority", "--train", "malformed.jsonl"});
  EXPECT_EQ(bad_train.exit_code, 3);
  EXPECT_EQ(medcode({"evaluate", "--dataset", k_test_file, "--baseline", "bm25", "--split", "val"}).exit_code,
            3);  // nothing of that split
  EXPECT_EQ(count("SELECT count(*) FROM evaluations"), 0);
}

TEST_F(EvaluateCommand, BadInvocationsExitTwoAndRecordNothing) {
  EXPECT_EQ(medcode({"evaluate", "--dataset", k_test_file, "--baseline", "foo"}).exit_code, 2);
  ProcessResult neither = medcode({"evaluate", "--dataset", k_test_file});
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_NE(neither.err.find("exactly one of --baseline"), std::string::npos) << neither.err;
  EXPECT_EQ(medcode({"evaluate", "--dataset", k_test_file, "--baseline", "bm25", "--model", "m"}).exit_code,
            2);
  ProcessResult model = medcode({"evaluate", "--dataset", k_test_file, "--model", "m"});
#ifdef MEDCODE_HAVE_MODEL
  EXPECT_EQ(model.exit_code, 3);  // no model folder m
#else
  EXPECT_EQ(model.exit_code, 2);
  EXPECT_NE(model.err.find("libmedcode_torch.so"), std::string::npos) << model.err;  // no model plugin
#endif
  EXPECT_EQ(medcode({"evaluate", "--dataset", k_test_file, "--baseline", "bm25", "--k", "0"}).exit_code, 2);
  EXPECT_EQ(
      medcode({"evaluate", "--dataset", k_test_file, "--coder", "bm25", "--baseline", "bm25"}).exit_code, 2);
  EXPECT_EQ(medcode({"evaluate", "--dataset", k_test_file, "--coder", "bm25", "--task", "P"}).exit_code, 2);
  EXPECT_EQ(medcode({"evaluate", "--dataset", k_test_file, "--coder", "bm25", "--submission", "s"}).exit_code,
            2);
  EXPECT_EQ(medcode({"evaluate", "--baseline", "bm25"}).exit_code, 2);  // no --dataset
  fs::remove(m_dir / "descriptions-to-codes.golden.train.jsonl");
  EXPECT_EQ(medcode({"evaluate", "--dataset", k_test_file, "--baseline", "majority"}).exit_code, 2);
  EXPECT_EQ(count("SELECT count(*) FROM evaluations"), 0);
}

}  // namespace
}  // namespace medcode
