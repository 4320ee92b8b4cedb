// End-to-end tests of the document coders: `predict --coder index` prints codes with the words that justify
// them; `evaluate --codiesp --coder index` scores whole notes; `reranker train` writes a reranker file that
// `--coder index+rerank:PATH` uses; and each kind of bad reranker file or invocation has its exit code and
// one line naming what is wrong.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

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

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

class DocumentCoder : public ::testing::Test {
 protected:
  // The index coder caches its compiled matcher in the store: each test writes to its own copy.
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), db()); }
  fs::path db() const { return m_dir / "m.db"; }
  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path(), {{"MEDCODE_CONFIG", ""}});
  }
  void write(const fs::path& path, const std::string& content) { std::ofstream(path) << content; }
  // A reranker trained on the real CodiEsp train split, the threshold chosen on the fixture's dev notes.
  fs::path trained_reranker() {
    fs::path out = m_dir / "reranker.json";
    ProcessResult result =
        medcode({"reranker", "train", "--codiesp", shared_data("codiesp/train").string(), "--dev",
                 fixture("codiesp/dev").string(), "--out", out.string(), "--rounds", "40"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return out;
  }
  TempDir m_dir;
};

TEST_F(DocumentCoder, PredictPrintsCodesWithTheirEvidence) {
  std::string note =
      "A 70-year-old woman with a history of HTN presented with acute appendicitis.\n"
      "She denied fever. Her mother had breast cancer.\n";
  write(m_dir / "note.txt", note);
  ProcessResult result = medcode({"predict", "--coder", "index", "--file", (m_dir / "note.txt").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json answer = nlohmann::json::parse(result.out);
  EXPECT_EQ(answer["coder"], "index");
  std::vector<std::string> codes;
  for (const auto& code : answer["codes"]) {
    codes.push_back(code["code"]);
    ASSERT_TRUE(code.contains("evidence")) << code.dump();
    for (const auto& span : code["evidence"]) {
      std::size_t begin = span["begin"], end = span["end"];
      EXPECT_EQ(note.substr(begin, end - begin), span["text"].get<std::string>());
    }
    EXPECT_FALSE(code["description"].get<std::string>().empty());
  }
  EXPECT_NE(std::find(codes.begin(), codes.end(), "I10"), codes.end()) << result.out;
  EXPECT_TRUE(
      std::any_of(codes.begin(), codes.end(), [](const std::string& c) { return c.rfind("K35", 0) == 0; }));
  EXPECT_EQ(std::find(codes.begin(), codes.end(), "R50.9"), codes.end()) << "fever is negated";
  EXPECT_FALSE(std::any_of(codes.begin(), codes.end(), [](const std::string& c) {
    return c.rfind("C50", 0) == 0;
  })) << "the mother's cancer is not the patient's";
  // The compiled Index is cached in the store for the next command.
  EXPECT_EQ(testing::query_int(db(), "SELECT count(*) FROM coder_cache WHERE kind = 'index-matcher'"), 1);
}

TEST_F(DocumentCoder, PredictBatchAndRankedCodes) {
  write(m_dir / "notes.jsonl",
        "{\"id\": \"a\", \"text\": \"Fever and cough.\"}\n{\"id\": \"b\", \"text\": \"Asthma.\"}\n");
  ProcessResult result =
      medcode({"predict", "--coder", "index", "--input", (m_dir / "notes.jsonl").string(), "--ranked", "3"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ASSERT_EQ(count_lines(result.out), 2U);
  nlohmann::json first = nlohmann::json::parse(result.out.substr(0, result.out.find('\n')));
  EXPECT_EQ(first["id"], "a");
  EXPECT_TRUE(first.contains("ranked"));
}

TEST_F(DocumentCoder, EvaluateCodiespWithTheIndexCoder) {
  ProcessResult result =
      medcode({"--json", "evaluate", "--codiesp", fixture("codiesp/dev").string(), "--coder", "index"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json out = nlohmann::json::parse(result.out);
  EXPECT_EQ(out["coder"], "index");
  // S-dev-1 says "essential hypertension" and "type 2 diabetes mellitus": both found.
  EXPECT_GE(out["micro"]["true_positives"].get<int>(), 2) << result.out;
  EXPECT_GT(out["map"].get<double>(), 0.3) << result.out;
}

TEST_F(DocumentCoder, RerankerTrainsAndCodes) {
  fs::path reranker = trained_reranker();
  nlohmann::json file = nlohmann::json::parse(testing::read_text(reranker));
  EXPECT_EQ(file["format"], "medcode-reranker");
  EXPECT_EQ(file["version"], 1);
  EXPECT_GT(file["threshold"].get<double>(), 0.0);
  ProcessResult result = medcode({"--json", "evaluate", "--codiesp", fixture("codiesp/dev").string(),
                                  "--coder", "index+rerank:" + reranker.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json out = nlohmann::json::parse(result.out);
  EXPECT_GE(out["micro"]["true_positives"].get<int>(), 1) << result.out;
  // Below its candidates, the ranking goes on with codes often right in training notes though not found in
  // the words: --depth codes for every note, the tail never assigned.
  result = medcode({"-q", "evaluate", "--codiesp", fixture("codiesp/dev").string(), "--coder",
                    "index+rerank:" + reranker.string(), "--depth", "30", "--submission", "out"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(count_lines(testing::read_text(m_dir / "out" / "codiesp-D.tsv")), 90U);
  EXPECT_LT(count_lines(testing::read_text(m_dir / "out" / "codiesp-D-assigned.tsv")), 20U);
  // --min-score overrides the file's threshold: above every probability, nothing is assigned.
  result = medcode({"--json", "evaluate", "--codiesp", fixture("codiesp/dev").string(), "--coder",
                    "index+rerank:" + reranker.string(), "--min-score", "1.01"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["n_predicted"], 0);
}

TEST_F(DocumentCoder, EachKindOfBadRerankerFileExitsThreeNamingTheFile) {
  auto expect_bad = [&](const fs::path& path, const std::string& said) {
    ProcessResult result =
        medcode({"-q", "predict", "--coder", "index+rerank:" + path.string(), "--text", "Fever."});
    EXPECT_EQ(result.exit_code, 3) << result.err;
    EXPECT_EQ(count_lines(result.err), 1U) << result.err;
    EXPECT_NE(result.err.find(path.filename().string()), std::string::npos) << result.err;
    EXPECT_NE(result.err.find(said), std::string::npos) << result.err;
    // Refused before any coding: nothing compiled into the store, no evaluation.
    EXPECT_EQ(testing::query_int(db(), "SELECT count(*) FROM coder_cache"), 0);
    EXPECT_EQ(testing::query_int(db(), "SELECT count(*) FROM evaluations"), 0);
  };
  expect_bad(m_dir / "missing.json", "cannot read");
  write(m_dir / "text.json", "not json");
  expect_bad(m_dir / "text.json", "not a medcode reranker file");
  write(m_dir / "future.json", R"({"format": "medcode-reranker", "version": 99})");
  expect_bad(m_dir / "future.json", "version 99");
  write(m_dir / "partial.json", R"({"format": "medcode-reranker", "version": 1, "features": []})");
  expect_bad(m_dir / "partial.json", "other features");
}

// Golden JSON Lines train and choose the threshold; MIMIC admission facts with a discharge note join the
// training notes (their val split would choose the threshold without --dev).
TEST_F(DocumentCoder, RerankerTrainsOnJsonLinesAndAdmissionFacts) {
  const char* notes[][2] = {
      {"Fever and cough for three days. Acute appendicitis was found.", R"(["R50.9", "K35.80"])"},
      {"She has essential hypertension and type 2 diabetes mellitus.", R"(["I10", "E11.9"])"},
      {"Anemia and fever. No cough.", R"(["D64.9", "R50.9"])"},
      {"Chronic kidney disease with hypertension. Abdominal pain.", R"(["I12.9", "R10.9"])"},
      {"Nausea and vomiting after meals; headache.", R"(["R11.2", "R51.9"])"},
      {"Pneumonia with fever; a history of asthma.", R"(["J18.9", "R50.9", "J45.909"])"},
  };
  std::string train;
  for (const auto& note : notes)
    train += nlohmann::json{{"text", note[0]}, {"codes", nlohmann::json::parse(note[1])}}.dump() + "\n";
  write(m_dir / "train.jsonl", train);
  write(m_dir / "dev.jsonl", R"({"text": "Fever and headache.", "codes": ["R50.9", "R51.9"]})"
                             "\n");
  ProcessResult result =
      medcode({"--json", "reranker", "train", "--dataset", (m_dir / "train.jsonl").string(), "--dev",
               (m_dir / "dev.jsonl").string(), "--out", (m_dir / "r.json").string(), "--rounds", "10",
               "--seed", "7", "--threads", "1", "--year", "2023"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(summary["train_notes"], 6);
  EXPECT_EQ(summary["dev_notes"], 1);
  EXPECT_GT(summary["train_positives"].get<int>(), 6);
  EXPECT_TRUE(fs::exists(m_dir / "r.json"));

  // A store without admission facts says which command makes them.
  ProcessResult no_facts =
      medcode({"-q", "reranker", "train", "--facts", "mimic-iv", "--out", (m_dir / "f.json").string()});
  EXPECT_EQ(no_facts.exit_code, 3) << no_facts.err;
  EXPECT_NE(no_facts.err.find("cohort facts"), std::string::npos) << no_facts.err;
  EXPECT_EQ(medcode({"-q", "reranker", "train", "--facts", "mimic-v", "--out", (m_dir / "f.json").string()})
                .exit_code,
            2);

  ASSERT_EQ(medcode({"-q", "import", "mimic-iv", shared_data("mimic-iv-demo-2.2").string(), "--tables",
                     "patients,admissions,diagnoses_icd"})
                .exit_code,
            0);
  ASSERT_EQ(medcode({"-q", "import", "mimic-iv", fixture("mimic").string()}).exit_code, 0);
  ASSERT_EQ(medcode({"-q", "cohort", "facts", "--num-samples", "20"}).exit_code, 0);
  std::int64_t with_notes = testing::query_int(
      db(),
      "SELECT count(DISTINCT f.id) FROM admission_facts f JOIN admission_fact_codes c ON c.fact_id = f.id "
      "WHERE f.split = 'train' AND f.note_text IS NOT NULL AND c.kind = 'diagnosis' AND c.in_release = 1");
  ASSERT_GT(with_notes, 0);
  ProcessResult facts = medcode({"--json", "reranker", "train", "--facts", "mimic-iv", "--dataset",
                                 (m_dir / "train.jsonl").string(), "--dev", (m_dir / "dev.jsonl").string(),
                                 "--out", (m_dir / "f.json").string(), "--rounds", "10"});
  ASSERT_EQ(facts.exit_code, 0) << facts.err;
  EXPECT_EQ(nlohmann::json::parse(facts.out)["train_notes"], 6 + with_notes);
}

TEST_F(DocumentCoder, BadInvocationsExitTwo) {
  EXPECT_EQ(medcode({"-q", "predict", "--coder", "nonsense", "--text", "x"}).exit_code, 2);
  EXPECT_EQ(medcode({"-q", "predict", "--coder", "index", "--model", "m", "--text", "x"}).exit_code, 2);
  EXPECT_EQ(medcode({"-q", "predict", "--coder", "index+rerank:", "--text", "x"}).exit_code, 2);
  ProcessResult same =
      medcode({"-q", "reranker", "train", "--codiesp", fixture("codiesp/dev").string(), "--dev",
               fixture("codiesp/dev").string(), "--out", (m_dir / "r.json").string()});
  EXPECT_EQ(same.exit_code, 2) << same.err;
  EXPECT_FALSE(fs::exists(m_dir / "r.json"));
  EXPECT_EQ(medcode({"-q", "reranker", "train", "--out", (m_dir / "r.json").string()}).exit_code, 2);
}

}  // namespace
}  // namespace medcode
