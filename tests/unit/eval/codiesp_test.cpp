// Tests of the CodiEsp reader and submission writers: a split folder written here (codes canonical, documents
// without labels kept, unknown gold counted), one test per kind of bad input, and the three submission files
// (lower case, rank order, character offsets) read back.
#include <gtest/gtest.h>

#include <algorithm>

#include <fstream>

#include "medcode/eval/codiesp.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::eval {
namespace {

namespace fs = std::filesystem;

RankedCode ranked(std::string code, std::vector<Evidence> evidence = {}) {
  RankedCode out;
  out.code = std::move(code);
  out.evidence = std::move(evidence);
  return out;
}

Prediction prediction(std::vector<RankedCode> ranked_codes, std::size_t n_predicted) {
  Prediction out;
  out.ranked = std::move(ranked_codes);
  out.n_predicted = n_predicted;
  return out;
}

EvalExample example(std::string id, std::string text, std::vector<std::string> gold = {}) {
  EvalExample out;
  out.id = std::move(id);
  out.text = std::move(text);
  out.gold = std::move(gold);
  return out;
}

class CodiespFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(m_dir / "text_files_en");
    text("S2-b", "Testicular pain.\n");
    text("S1-a", "Renal colic and fever.\n");
    text("S3-c", "Nothing was done.\n");
    write("devD.tsv", "S1-a\tn23\nS1-a\tN23\nS2-b\tn44.8\nS1-a\tr50.9\nS1-a\tz99.99\n");
    write("devP.tsv", "S1-a\tbt41zzz\nS1-a\tbt41\n");
    write("devX.tsv", "S1-a\tDIAGNOSTICO\tn23\tcólico renal\t0 12\n");  // never read
  }
  void text(const std::string& id, const std::string& content) {
    write("text_files_en/" + id + ".txt", content);
  }
  void write(const std::string& name, const std::string& content) { std::ofstream(m_dir / name) << content; }
  // The message of the Error(bad_input) that loading throws; "" when it loads.
  std::string load_error(CodiespTask task = CodiespTask::diagnoses) {
    try {
      load_codiesp(m_dir.path(), {task, std::nullopt}, nullptr);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::bad_input);
      return e.what();
    }
    return "";
  }
  testing::TempDir m_dir;
};

TEST_F(CodiespFolderTest, ReadsEveryDocumentByIdWithCanonicalDistinctGold) {
  CodiespDataset dataset = load_codiesp(m_dir.path(), {CodiespTask::diagnoses, std::nullopt}, nullptr);
  EXPECT_EQ(dataset.folder.label_file.filename(), "devD.tsv");
  EXPECT_EQ(dataset.n_label_lines, 5U);
  ASSERT_EQ(dataset.examples.size(), 3U);
  EXPECT_EQ(dataset.examples[0].id, "S1-a");
  EXPECT_EQ(dataset.examples[0].text, "Renal colic and fever.\n");
  EXPECT_EQ(dataset.examples[0].gold, (std::vector<std::string>{"N23", "R50.9", "Z99.99"}));
  EXPECT_EQ(dataset.examples[1].id, "S2-b");
  EXPECT_EQ(dataset.examples[1].gold, (std::vector<std::string>{"N44.8"}));
  EXPECT_EQ(dataset.examples[2].id, "S3-c");  // no label: kept, with nothing to find
  EXPECT_TRUE(dataset.examples[2].gold.empty());
  EXPECT_EQ(dataset.n_without_gold, 1U);
  EXPECT_EQ(load_codiesp(m_dir.path(), {CodiespTask::diagnoses, 2}, nullptr).examples.size(), 2U);
}

TEST_F(CodiespFolderTest, ATextThatIsNotUtf8IsReadWithItsBadBytesReplaced) {
  text("S2-b", "Testicular \xFF\xFEpain.\n");
  CodiespDataset dataset = load_codiesp(m_dir.path(), {CodiespTask::diagnoses, std::nullopt}, nullptr);
  auto found = std::find_if(dataset.examples.begin(), dataset.examples.end(),
                            [](const EvalExample& e) { return e.id == "S2-b"; });
  ASSERT_NE(found, dataset.examples.end());
  EXPECT_EQ(found->text, "Testicular \xEF\xBF\xBD\xEF\xBF\xBDpain.\n");
}

TEST_F(CodiespFolderTest, KeepsProceduresCutAfterAnAxisAndCountsGoldTheReleaseLacks) {
  auto in_release = [](const std::string& code) { return code.size() == 7; };
  CodiespDataset dataset = load_codiesp(m_dir.path(), {CodiespTask::procedures, std::nullopt}, in_release);
  EXPECT_EQ(dataset.folder.label_file.filename(), "devP.tsv");
  EXPECT_EQ(dataset.examples[0].gold, (std::vector<std::string>{"BT41ZZZ", "BT41"}));
  EXPECT_EQ(dataset.n_without_gold, 2U);
  EXPECT_EQ(dataset.unknown.n_gold, 1);
  EXPECT_EQ(dataset.unknown.examples, (std::vector<std::string>{"BT41"}));
}

TEST_F(CodiespFolderTest, AMissingFolderTextFolderOrLabelFileIsNamed) {
  fs::remove(m_dir / "devP.tsv");
  EXPECT_NE(load_error(CodiespTask::procedures).find("no CodiEsp-P label file"), std::string::npos);
  write("trainD.tsv", "S1-a\tn23\n");
  EXPECT_NE(load_error().find("more than one file ends in D.tsv (devD.tsv, trainD.tsv)"), std::string::npos);
  fs::remove_all(m_dir / "text_files_en");
  EXPECT_NE(load_error().find((m_dir / "text_files_en").string() + ": no such folder"), std::string::npos);
  try {
    load_codiesp(m_dir / "nowhere", {}, nullptr);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("nowhere: no such CodiEsp folder"), std::string::npos);
  }
}

TEST_F(CodiespFolderTest, AMalformedLabelLineNamesFileAndLine) {
  const std::string file = (m_dir / "devD.tsv").string();
  write("devD.tsv", "S1-a\tn23\nS1-a n23\n");
  EXPECT_NE(load_error().find(file + ":2: expected 2 tab-separated fields (articleID, code), found 1"),
            std::string::npos);
  write("devD.tsv", "S1-a\tDIAGNOSTICO\tn23\n");
  EXPECT_NE(load_error().find(file + ":1: expected 2 tab-separated fields"), std::string::npos);
  write("devD.tsv", "S1-a\tn23\n\nS2-b\t \n");
  EXPECT_NE(load_error().find(file + ":3: empty code for article S2-b"), std::string::npos);
  write("devD.tsv", "\tn23\n");
  EXPECT_NE(load_error().find(file + ":1: empty articleID"), std::string::npos);
  write("devD.tsv", "S1-a\tn23\nS9-z\tn23\n");
  EXPECT_NE(load_error().find(file + ":2: article S9-z has no text file"), std::string::npos);
  write("devD.tsv", "S1-a\t23.n\n");
  EXPECT_NE(load_error().find(file + ":1: '23.n' is not a well-formed ICD-10-CM code"), std::string::npos);
  write("devD.tsv", "S1-a\tn23\r\nS2-b\tn44.8\r\n");  // CRLF is fine
  EXPECT_EQ(load_error(), "");
}

TEST(CodiespCodes, CanonicaliseInTheTasksSystem) {
  EXPECT_EQ(canonical_codiesp_code(CodiespTask::diagnoses, "n44.8"), "N44.8");
  EXPECT_EQ(canonical_codiesp_code(CodiespTask::diagnoses, "r52"), "R52");
  EXPECT_EQ(canonical_codiesp_code(CodiespTask::diagnoses, "bt41"), std::nullopt);
  EXPECT_EQ(canonical_codiesp_code(CodiespTask::procedures, "3e1m39z"), "3E1M39Z");
  EXPECT_EQ(canonical_codiesp_code(CodiespTask::procedures, "bw20"), "BW20");
  EXPECT_EQ(canonical_codiesp_code(CodiespTask::procedures, "n44.8"), std::nullopt);
  EXPECT_EQ(canonical_codiesp_code(CodiespTask::procedures, "0bho"), std::nullopt);  // PCS has no letter O
  EXPECT_EQ(parse_codiesp_task("p"), CodiespTask::procedures);
  EXPECT_EQ(parse_codiesp_task("X"), std::nullopt);
}

TEST(CodiespSubmission, TheRankedFileListsEachCodeOnceInRankOrderInLowerCase) {
  std::vector<EvalExample> examples = {example("S1-a", "t"), example("S2-b", "t"), example("S3-c", "t")};
  std::vector<Prediction> predictions = {prediction({ranked("N23"), ranked("R50.9"), ranked("N23")}, 1),
                                         prediction({}, 0), prediction({ranked("BT41ZZZ")}, 1)};
  EXPECT_EQ(format_codiesp_ranking(examples, predictions, false), "S1-a\tn23\nS1-a\tr50.9\nS3-c\tbt41zzz\n");
  EXPECT_EQ(format_codiesp_ranking(examples, predictions, true), "S1-a\tn23\nS3-c\tbt41zzz\n");
}

TEST(CodiespSubmission, TheEvidenceFileGivesCharacterOffsetsOfEachAssignedCodesEvidence) {
  // "°" is two bytes: byte 9 is character 8.
  std::string text = "Fever 38°C and renal colic.";
  std::size_t colic = text.find("renal colic");
  std::vector<EvalExample> examples = {example("S1-a", text)};
  std::vector<Prediction> predictions = {prediction({ranked("N23", {{colic, colic + 11, "renal colic"}}),
                                                     ranked("R50.9", {{0, 5, "Fever"}, {6, 11, "38°C"}}),
                                                     ranked("Z99.99"), ranked("I10", {{0, 5, "Fever"}})},
                                                    3)};
  std::size_t without = 0;
  EXPECT_EQ(format_codiesp_evidence(CodiespTask::diagnoses, examples, predictions, &without),
            "S1-a\t15 26\tDIAGNOSTICO\tn23\n"
            "S1-a\t0 5\tDIAGNOSTICO\tr50.9\n"
            "S1-a\t6 10\tDIAGNOSTICO\tr50.9\n");
  EXPECT_EQ(without, 1U);  // Z99.99; I10 is ranked but not assigned
}

TEST_F(CodiespFolderTest, TheRankedFileReadsBackAsTheGoldItWasWrittenFrom) {
  CodiespDataset dataset = load_codiesp(m_dir.path(), {CodiespTask::diagnoses, std::nullopt}, nullptr);
  std::vector<Prediction> predictions;
  for (const auto& document : dataset.examples) {
    Prediction gold_as_prediction;
    for (const auto& code : document.gold) gold_as_prediction.ranked.push_back(ranked(code));
    gold_as_prediction.n_predicted = gold_as_prediction.ranked.size();
    predictions.push_back(std::move(gold_as_prediction));
  }
  CodiespSubmission submission =
      write_codiesp_submission(m_dir / "out" / "sub", CodiespTask::diagnoses, dataset.examples, predictions);
  EXPECT_EQ(submission.ranking, m_dir / "out" / "sub" / "codiesp-D.tsv");
  EXPECT_TRUE(fs::exists(submission.assigned));
  EXPECT_TRUE(fs::exists(submission.evidence));
  EXPECT_EQ(submission.n_assigned_without_evidence, 4U);
  // Put the ranked file where the label file was: the same examples come back.
  fs::copy_file(submission.ranking, m_dir / "devD.tsv", fs::copy_options::overwrite_existing);
  CodiespDataset again = load_codiesp(m_dir.path(), {CodiespTask::diagnoses, std::nullopt}, nullptr);
  ASSERT_EQ(again.examples.size(), dataset.examples.size());
  for (std::size_t i = 0; i < again.examples.size(); ++i) {
    EXPECT_EQ(again.examples[i].id, dataset.examples[i].id);
    EXPECT_EQ(again.examples[i].gold, dataset.examples[i].gold);
  }
}

}  // namespace
}  // namespace medcode::eval
