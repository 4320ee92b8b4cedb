// End-to-end tests of `medcode evaluate --codiesp`: the majority baseline on a hand-written CodiEsp layout
// (tests/fixtures/codiesp) with figures computed by hand, for diagnoses over ICD-10-CM 2023 and procedures
// over ICD-10-PCS 2023; bm25 and the submission files; majority on the real dev split; and each kind of bad
// input (exit 3, one line naming the file) or bad invocation (exit 2).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::run_medcode;
using testing::shared_data;
using testing::TempDir;

// ICD-10-CM and ICD-10-PCS FY2023, the two code sets of CodiEsp's tasks.
fs::path icd10cm_icd10pcs_2023_store() {
  return testing::shared_store(
      "icd10cm-icd10pcs-2023",
      {{"icd10cm", "--year", "2023", shared_data("cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz").string(),
        shared_data("cms/icd10cm/2023/icd10cm_index_2023.xml.gz").string()},
       {"icd10pcs", "--year", "2023", shared_data("cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz").string(),
        shared_data("cms/icd10pcs/2023/icd10pcs_index_2023.xml.gz").string()}});
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The second field of each line of a tab-separated text.
std::vector<std::string> second_fields(const std::string& text) {
  std::vector<std::string> fields;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::size_t tab = line.find('\t');
    fields.push_back(tab == std::string::npos ? ""
                                              : line.substr(tab + 1, line.find('\t', tab + 1) - tab - 1));
  }
  return fields;
}

bool has_upper_case(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

class EvaluateCodiesp : public ::testing::Test {
 protected:
  // Evaluations are written to the store, and bad-input tests edit the folders: each test has its own copies.
  void SetUp() override {
    fs::copy_file(icd10cm_icd10pcs_2023_store(), db());
    fs::copy(fixture("codiesp"), m_dir / "codiesp", fs::copy_options::recursive);
  }
  fs::path db() const { return m_dir / "m.db"; }
  fs::path dev() const { return m_dir / "codiesp" / "dev"; }
  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), {{"MEDCODE_CONFIG", ""}});
  }
  nlohmann::json evaluate_json(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "evaluate"});
    ProcessResult result = medcode(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? nlohmann::json::parse(result.out) : nlohmann::json::object();
  }
  // Runs evaluate on `folder` (the dev copy), expecting bad input: one error line, naming `named`.
  void expect_bad_input(const std::string& named, const fs::path& folder = {}) {
    ProcessResult result = medcode(
        {"-q", "evaluate", "--codiesp", (folder.empty() ? dev() : folder).string(), "--coder", "bm25"});
    EXPECT_EQ(result.exit_code, 3) << result.err;
    EXPECT_EQ(count_lines(result.err), 1U) << result.err;
    EXPECT_NE(result.err.find(named), std::string::npos) << result.err;
    EXPECT_EQ(testing::query_int(db(), "SELECT count(*) FROM evaluations"), 0);
  }
  void write(const fs::path& path, const std::string& content) { std::ofstream(path) << content; }
  TempDir m_dir;
};

TEST_F(EvaluateCodiesp, MajorityCountsTheSiblingTrainFolderAndScoresDiagnosesAsComputedByHand) {
  nlohmann::json result = evaluate_json({"--codiesp", dev().string(), "--coder", "majority"});
  // Training ranks I10 (3), E11.9 (2), J18.9 (1), N30.00 (1); each note is assigned I10.
  // Gold: S-dev-1 {I10, E11.9}, S-dev-2 {N30.00, N30.99}, S-dev-3 {R50.9}.
  EXPECT_EQ(result["coder"], "majority");
  EXPECT_EQ(result["task"], "D");
  EXPECT_EQ(result["release"], "ICD-10-CM 2023");
  EXPECT_EQ(result["n_examples"], 3);
  EXPECT_EQ(result["n_gold"], 5);
  EXPECT_EQ(result["n_without_gold"], 0);
  EXPECT_EQ(result["n_gold_unknown"], 1);  // N30.99 is in no release
  EXPECT_EQ(result["unknown_gold_examples"], nlohmann::json::array({"N30.99"}));
  EXPECT_EQ(result["micro"]["true_positives"], 1);
  EXPECT_EQ(result["micro"]["false_positives"], 2);
  EXPECT_EQ(result["micro"]["false_negatives"], 4);
  EXPECT_DOUBLE_EQ(result["micro"]["f1"].get<double>(), 0.25);
  // AP: S-dev-1 (1/1 + 2/2) / 2 = 1; S-dev-2 N30.00 at rank 4: (1/4) / 2; S-dev-3 0.
  EXPECT_DOUBLE_EQ(result["map"].get<double>(), (1.0 + 0.125 + 0.0) / 3.0);
  std::vector<std::size_t> ks;
  for (const auto& at : result["at_k"]) ks.push_back(at["k"].get<std::size_t>());
  EXPECT_EQ(ks, (std::vector<std::size_t>{1, 5, 8, 15}));
  EXPECT_DOUBLE_EQ(result["at_k"][1]["precision"].get<double>(), (2.0 / 5 + 1.0 / 5 + 0.0) / 3.0);
  EXPECT_DOUBLE_EQ(result["at_k"][1]["recall"].get<double>(), (1.0 + 0.5 + 0.0) / 3.0);
  EXPECT_DOUBLE_EQ(result["category_at_k"][0]["precision"].get<double>(), 1.0 / 3.0);

  EXPECT_EQ(testing::query_text(db(), "SELECT dataset FROM evaluations WHERE coder = 'majority'"),
            fs::weakly_canonical(dev()).string());
  EXPECT_EQ(testing::query_int(db(), "SELECT json_extract(result, '$.n_gold_unknown') FROM evaluations"), 1);
  EXPECT_EQ(testing::query_text(db(), "SELECT json_extract(result, '$.task') FROM evaluations"), "D");
}

TEST_F(EvaluateCodiesp, ProceduresAreScoredOverIcd10PcsKeepingNotesWithoutProcedures) {
  nlohmann::json result = evaluate_json({"--codiesp", dev().string(), "--task", "P", "--coder", "majority"});
  // Training ranks BW03ZZZ (2), 0DTJ4ZZ (1); gold: S-dev-1 {BW03ZZZ}, S-dev-2 {BT41}, S-dev-3 nothing.
  EXPECT_EQ(result["task"], "P");
  EXPECT_EQ(result["release"], "ICD-10-PCS 2023");
  EXPECT_EQ(result["n_examples"], 3);
  EXPECT_EQ(result["n_without_gold"], 1);
  EXPECT_EQ(result["n_gold_unknown"], 1);            // BT41, cut after the 4th character
  EXPECT_EQ(result["micro"]["false_positives"], 2);  // S-dev-3's BW03ZZZ among them
  EXPECT_DOUBLE_EQ(result["micro"]["f1"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(result["map"].get<double>(), 0.5);  // S-dev-3 has no gold and is left out
  EXPECT_DOUBLE_EQ(result["exact_match"].get<double>(), 1.0 / 3.0);
}

// The index coder reads the ICD-10-PCS Index for procedures ("chest radiograph": Plain Radiography > Chest);
// a reranker trained on procedures codes them, and one trained on diagnoses is refused for them.
TEST_F(EvaluateCodiesp, TheIndexCoderAndItsRerankerCodeProcedures) {
  ProcessResult result = medcode({"--json", "evaluate", "--codiesp", dev().string(), "--task", "P", "--coder",
                                  "index", "--submission", "out"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json scores = nlohmann::json::parse(result.out);
  EXPECT_EQ(scores["release"], "ICD-10-PCS 2023");
  EXPECT_GE(scores["micro"]["true_positives"].get<int>(), 1);
  std::string assigned = testing::read_text(m_dir / "out" / "codiesp-P-assigned.tsv");
  EXPECT_NE(assigned.find("S-dev-1\tbw03zzz"), std::string::npos) << assigned;
  std::string evidence = testing::read_text(m_dir / "out" / "codiesp-X-P.tsv");
  EXPECT_NE(evidence.find("S-dev-1\t"), std::string::npos) << evidence;  // the offsets of "chest radiograph"
  EXPECT_NE(evidence.find("\tbw03zzz\n"), std::string::npos) << evidence;

  fs::path procedures = m_dir / "p.json";
  ProcessResult train =
      medcode({"-q", "reranker", "train", "--task", "P", "--codiesp", shared_data("codiesp/train").string(),
               "--dev", dev().string(), "--out", procedures.string(), "--rounds", "20"});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_EQ(nlohmann::json::parse(testing::read_text(procedures))["release"]["system"], "icd10pcs");
  nlohmann::json reranked = evaluate_json(
      {"--codiesp", dev().string(), "--task", "P", "--coder", "index+rerank:" + procedures.string()});
  EXPECT_EQ(reranked["release"], "ICD-10-PCS 2023");
  ProcessResult wrong = medcode({"-q", "evaluate", "--codiesp", dev().string(), "--task", "D", "--coder",
                                 "index+rerank:" + procedures.string()});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.err;
  EXPECT_NE(wrong.err.find("trained on ICD-10-PCS candidates"), std::string::npos) << wrong.err;
}

TEST_F(EvaluateCodiesp, Bm25PrintsTheNewFiguresAndWritesTheSubmissionFiles) {
  ProcessResult result =
      medcode({"evaluate", "--codiesp", dev().string(), "--coder", "bm25", "--submission", "out"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("bm25 on " + dev().string() + " (CodiEsp-D): 3 examples, 5 gold codes"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("gold codes not in ICD-10-CM 2023: 1 (1 distinct, e.g. N30.99)"),
            std::string::npos)
      << result.out;
  for (const char* row : {"\nMAP  ", "\n@8  ", "\ncategory @15  ", "\nsubmission: "})
    EXPECT_NE(result.out.find(row), std::string::npos) << row << "\n" << result.out;

  std::string ranking = testing::read_text(m_dir / "out" / "codiesp-D.tsv");
  EXPECT_EQ(count_lines(ranking), 300U);  // 100 codes (the default depth with --codiesp) for each of 3 notes
  EXPECT_EQ(ranking.rfind("S-dev-1\t", 0), 0U);
  for (const auto& code : second_fields(ranking))
    EXPECT_FALSE(code.empty() || has_upper_case(code)) << code;  // lower case, as CodiEsp writes codes
  EXPECT_EQ(count_lines(testing::read_text(m_dir / "out" / "codiesp-D-assigned.tsv")), 3U);
  EXPECT_EQ(testing::read_text(m_dir / "out" / "codiesp-X-D.tsv"), "");  // bm25 points at no words
}

TEST_F(EvaluateCodiesp, MajorityOnTheRealDevSplitMatchesTheOfficialMapDefinition) {
  nlohmann::json result =
      evaluate_json({"--codiesp", shared_data("codiesp/dev").string(), "--coder", "majority"});
  EXPECT_EQ(result["n_examples"], 250);
  EXPECT_EQ(result["n_gold"], 2677);
  EXPECT_EQ(result["n_gold_unknown"], 43);  // codes without their 7th character (W19.XXX), Spanish-only codes
  // The figure CodiEsp's scorer gives for the written ranking, 100 codes deep (checked once by hand with its
  // definition).
  EXPECT_NEAR(result["map"].get<double>(), 0.082752, 1e-6);
  EXPECT_EQ(result["micro"]["true_positives"], 51);
}

TEST_F(EvaluateCodiesp, EachKindOfBadInputExitsThreeWithOneLineNamingTheFile) {
  const fs::path labels = dev() / "devD.tsv";
  fs::rename(dev() / "devD.tsv", m_dir / "devD.tsv");
  expect_bad_input(dev().string() + ": no CodiEsp-D label file");
  fs::rename(m_dir / "devD.tsv", labels);

  write(labels, "S-dev-1\ti10\nS-dev-2 n30.00\n");
  expect_bad_input(labels.string() + ":2: expected 2 tab-separated fields");
  write(labels, "S-dev-1\ti10\nS-dev-2\t\n");
  expect_bad_input(labels.string() + ":2: empty code");
  write(labels, "S-dev-1\ti10\nS-dev-9\tn30.00\n");
  expect_bad_input(labels.string() + ":2: article S-dev-9 has no text file");

  fs::rename(dev() / "text_files_en", dev() / "texts");
  expect_bad_input((dev() / "text_files_en").string() + ": no such folder");
  expect_bad_input((m_dir / "nowhere").string() + ": no such CodiEsp folder", m_dir / "nowhere");
}

TEST_F(EvaluateCodiesp, BadInvocationsExitTwo) {
  const std::string dir = dev().string();
  EXPECT_EQ(medcode({"evaluate", "--codiesp", dir, "--dataset", "x.jsonl", "--coder", "bm25"}).exit_code, 2);
  EXPECT_EQ(medcode({"evaluate", "--codiesp", dir, "--task", "X", "--coder", "bm25"}).exit_code, 2);
  EXPECT_EQ(medcode({"evaluate", "--codiesp", dir, "--split", "test", "--coder", "bm25"}).exit_code, 2);
  EXPECT_EQ(medcode({"evaluate", "--codiesp", dir, "--coder", "bm25", "--baseline", "bm25"}).exit_code, 2);
  EXPECT_EQ(medcode({"evaluate", "--codiesp", dir, "--coder", "no-such-coder"}).exit_code, 2);
  fs::remove_all(m_dir / "codiesp" / "train");
  ProcessResult majority = medcode({"evaluate", "--codiesp", dir, "--coder", "majority"});
  EXPECT_EQ(majority.exit_code, 2);
  EXPECT_NE(majority.err.find("no train folder beside"), std::string::npos) << majority.err;
  EXPECT_EQ(testing::query_int(db(), "SELECT count(*) FROM evaluations"), 0);
}

}  // namespace
}  // namespace medcode
