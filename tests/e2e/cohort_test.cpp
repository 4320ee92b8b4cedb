// End-to-end tests of `medcode cohort build|facts|export` on the MIMIC-IV demo with the note fixtures, and on
// the MIMIC-III demo: ranking, patient selection, codes and their validation, GEM mapping, splits, export.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>

#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::query_int;
using testing::query_text;
using testing::run_medcode;
using testing::shared_data;
using testing::TempDir;

// A copy of the FY2023 ICD-10-CM store with the demo's cohort tables and the note fixtures imported.
class Cohort : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy_file(testing::icd10cm_2023_store(), db());
    ProcessResult demo = medcode({"import", "mimic-iv", shared_data("mimic-iv-demo-2.2").string(), "--tables",
                                  "patients,admissions,diagnoses_icd,procedures_icd"});
    ASSERT_EQ(demo.exit_code, 0) << demo.err;
    ProcessResult notes = medcode({"import", "mimic-iv", fixture("mimic").string()});
    ASSERT_EQ(notes.exit_code, 0) << notes.err;
  }

  fs::path db() const { return m_dir / "m.db"; }
  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path());
  }
  std::int64_t count(const std::string& sql) { return query_int(db(), sql); }
  std::string text(const std::string& sql) { return query_text(db(), sql); }

  nlohmann::json facts(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "cohort", "facts"});
    ProcessResult result = medcode(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? nlohmann::json::parse(result.out) : nlohmann::json();
  }

  std::map<std::int64_t, std::string> split_by_subject() {
    std::map<std::int64_t, std::string> splits;
    store::Database store = store::Database::open(db(), store::OpenMode::existing_only);
    auto query = store.prepare("SELECT DISTINCT subject_id, split FROM admission_facts ORDER BY subject_id");
    while (query.step()) {
      auto [it, fresh] = splits.emplace(query.column_int64(0), query.column_text(1));
      EXPECT_TRUE(fresh) << "patient " << query.column_int64(0) << " is in more than one split";
    }
    return splits;
  }

  TempDir m_dir;
};

TEST_F(Cohort, BuildRanksPatientsByAdmissionCountThenSubjectId) {
  ProcessResult result = medcode({"cohort", "build", "--limit", "6", "--output", "top.csv"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string csv = testing::read_text(m_dir / "top.csv");
  // From the demo's admissions: 20, 13, 12, then three patients with 10, in id order.
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "rank,subject_id,n_admissions,first_admittime,last_admittime,has_discharge_note");
  std::vector<std::string> expected = {"1,10014354,20,", "2,10015860,13,", "3,10002930,12,",
                                       "4,10037928,10,", "5,10039708,10,", "6,10040025,10,"};
  std::size_t at = csv.find('\n') + 1;
  for (const auto& prefix : expected) {
    EXPECT_EQ(csv.compare(at, prefix.size(), prefix), 0) << csv;
    at = csv.find('\n', at) + 1;
  }
  EXPECT_EQ(count("SELECT count(*) FROM cohort_patients WHERE source = 'mimic-iv'"), 6);
  EXPECT_EQ(count("SELECT subject_id FROM cohort_patients WHERE rank = 5"), 10039708);
  // The same again gives the same file.
  ASSERT_EQ(medcode({"cohort", "build", "--limit", "6", "--output", "again.csv"}).exit_code, 0);
  EXPECT_EQ(testing::read_text(m_dir / "again.csv"), csv);
}

TEST_F(Cohort, FactsTakePatientsWithDischargeNotesFirst) {
  nlohmann::json summary = facts({"--num-samples", "3"});
  EXPECT_EQ(summary["patients"], 3);
  EXPECT_EQ(summary["patients_with_notes"], 3);
  EXPECT_EQ(
      text("SELECT group_concat(subject_id) FROM (SELECT DISTINCT subject_id FROM admission_facts ORDER "
           "BY subject_id)"),
      "10000032,10014354,10039708");
  // One fact per admission of those patients; notes where the fixtures have them.
  EXPECT_EQ(summary["admissions"], 4 + 20 + 10);
  EXPECT_EQ(summary["admissions_with_notes"], 5);
  EXPECT_EQ(text("SELECT note_id FROM admission_facts WHERE hadm_id = 28258130"), "10039708-DS-7");
  EXPECT_EQ(count("SELECT count(*) FROM admission_facts WHERE hadm_id = 25742920 AND note_text IS NULL"), 1);
}

TEST_F(Cohort, FactsKeepIcd10CodesCanonicalAndValidatedInSequenceOrder) {
  facts({"--num-samples", "3"});
  std::string fact = "(SELECT id FROM admission_facts WHERE hadm_id = 28258130)";
  EXPECT_EQ(
      text("SELECT group_concat(code, ' ') FROM (SELECT code FROM admission_fact_codes WHERE fact_id = " +
           fact + " AND kind = 'diagnosis' ORDER BY seq_num LIMIT 4)"),
      "D64.9 N17.0 J96.91 I21.4");
  EXPECT_EQ(text("SELECT source_code || '/' || source_version || '/' || mapping || '/' || in_release FROM "
                 "admission_fact_codes WHERE fact_id = " +
                 fact + " AND seq_num = 1 AND kind = 'diagnosis'"),
            "D649/10/direct/1");
  // Procedures keep their PCS form; this store has no PCS release, so they are marked as not in one.
  EXPECT_EQ(count("SELECT count(*) FROM admission_fact_codes WHERE fact_id = " + fact +
                  " AND kind = 'procedure' AND code = 'B54BZZA' AND in_release = 0"),
            1);
  EXPECT_EQ(text("SELECT release_year FROM admission_facts WHERE hadm_id = 28258130"), "2023");
  // ICD-9 codes are left out without --map-icd9, and counted.
  EXPECT_EQ(count("SELECT count(*) FROM admission_fact_codes WHERE source_version = 9"), 0);
}

TEST_F(Cohort, MapIcd9GoesThroughTheGemsAndKeepsTheMappingKind) {
  ProcessResult gem =
      medcode({"import", "gem", shared_data("cms/gem/2018/2018_gem_cm_I9I10.txt.gz").string()});
  ASSERT_EQ(gem.exit_code, 0) << gem.err;
  nlohmann::json summary = facts({"--num-samples", "3", "--map-icd9"});
  EXPECT_GT(summary["icd9_mapped"].get<int>(), 30);
  // 10000032's first stay: ICD-9 5723 (portal hypertension) maps exactly to K76.6.
  EXPECT_EQ(text("SELECT code || '/' || mapping FROM admission_fact_codes WHERE source_code = '5723' AND "
                 "fact_id = (SELECT id FROM admission_facts WHERE hadm_id = 22595853)"),
            "K76.6/exact");
  EXPECT_GT(count("SELECT count(*) FROM admission_fact_codes WHERE source_version = 9 AND in_release = 1"),
            30);
  // Without the procedure GEM, ICD-9 procedures are left out with a warning.
  EXPECT_GT(summary["icd9_left_out"].get<int>(), 0);
  EXPECT_FALSE(summary["warnings"].empty());
}

TEST_F(Cohort, MapIcd9WithoutAGemIsBadInput) {
  ProcessResult result = medcode({"cohort", "facts", "--map-icd9"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("import gem"), std::string::npos) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM admission_facts"), 0);
}

TEST_F(Cohort, SplitsArePatientLevelEightyTenTenAndFollowTheSeed) {
  nlohmann::json summary = facts({"--num-samples", "100", "--seed", "7"});
  EXPECT_EQ(summary["patients"], 100);
  EXPECT_EQ(summary["splits"]["train"]["patients"], 80);
  EXPECT_EQ(summary["splits"]["val"]["patients"], 10);
  EXPECT_EQ(summary["splits"]["test"]["patients"], 10);
  EXPECT_EQ(summary["admissions"], 275);
  auto first = split_by_subject();
  EXPECT_EQ(first.size(), 100u);
  EXPECT_EQ(count("SELECT count(*) FROM admission_facts_val"),
            summary["splits"]["val"]["admissions"].get<int>());
  facts({"--num-samples", "100", "--seed", "7"});
  EXPECT_EQ(split_by_subject(), first);
  facts({"--num-samples", "100", "--seed", "8"});
  EXPECT_NE(split_by_subject(), first);
}

TEST_F(Cohort, FactsFollowABuiltCohort) {
  ASSERT_EQ(medcode({"cohort", "build", "--limit", "4"}).exit_code, 0);
  nlohmann::json summary = facts({"--num-samples", "10"});
  EXPECT_TRUE(summary["from_cohort"].get<bool>());
  EXPECT_EQ(summary["patients"], 4);
  EXPECT_EQ(summary["admissions"], 20 + 13 + 12 + 10);
}

TEST_F(Cohort, ExportWritesNoteToCodesJsonLinesPerSplit) {
  facts({"--num-samples", "3"});
  ProcessResult result = medcode({"--json", "cohort", "export", "--out", "ds"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  // Of the five admissions with a note, 10000032's three have only ICD-9 codes (left out without --map-icd9).
  EXPECT_EQ(summary["examples"], 2);
  EXPECT_EQ(summary["without_codes"], 3);
  std::ifstream all(m_dir / "ds/descriptions-to-codes.all.jsonl");
  std::string line;
  std::set<std::string> splits;
  int lines = 0;
  while (std::getline(all, line)) {
    auto example = nlohmann::json::parse(line);
    EXPECT_FALSE(example["text"].get<std::string>().empty());
    EXPECT_FALSE(example["codes"].empty());
    splits.insert(example["split"].get<std::string>());
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  std::int64_t per_split = 0;
  for (std::string split : {"train", "val", "test"}) {
    std::ifstream file(m_dir / ("ds/descriptions-to-codes.golden." + split + ".jsonl"));
    while (std::getline(file, line)) {
      EXPECT_EQ(nlohmann::json::parse(line)["split"], split);
      ++per_split;
    }
  }
  EXPECT_EQ(per_split, 2);
}

#ifdef MEDCODE_HAVE_SENTENCEPIECE
TEST_F(Cohort, TokenizeReadsTheExportUnchanged) {
  facts({"--num-samples", "3"});
  ASSERT_EQ(medcode({"cohort", "export", "--out", "ds"}).exit_code, 0);
  // Admission notes carry dozens of codes: the completion needs more room than the default 128 tokens.
  ProcessResult result =
      medcode({"--json", "tokenize", "--dataset", "ds", "--name", "mimic", "--max-length", "1024"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM token_examples WHERE token_set_id = (SELECT id FROM token_sets WHERE "
                  "name = 'mimic') AND split IN ('train', 'val', 'test')"),
            2);
}
#endif

TEST_F(Cohort, CommandsWithoutImportedMimicExitThree) {
  TempDir other;
  ProcessResult result = run_medcode({"--db", (other / "x.db").string(), "cohort", "build"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("import mimic-iv"), std::string::npos) << result.err;
  result = medcode({"cohort", "export", "--out", "ds"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("cohort facts"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(m_dir / "ds/descriptions-to-codes.all.jsonl"));
}

TEST(CohortMimicIii, FactsMapTheDemosIcd9Codes) {
  TempDir dir;
  fs::path db = dir / "m.db";
  fs::copy_file(testing::icd10cm_2023_store(), db);
  auto medcode = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db.string()});
    return run_medcode(args, dir.path());
  };
  ASSERT_EQ(medcode({"import", "mimic-iii", shared_data("mimic-iii-demo-1.4").string()}).exit_code, 0);
  ASSERT_EQ(
      medcode({"import", "gem", shared_data("cms/gem/2018/2018_gem_cm_I9I10.txt.gz").string()}).exit_code, 0);
  ProcessResult result = medcode({"--json", "cohort", "facts", "--source", "mimic-iii", "--map-icd9"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(summary["patients"], 100);
  EXPECT_EQ(summary["admissions"], 129);
  EXPECT_EQ(summary["icd10_codes"], 0);
  EXPECT_GT(summary["icd9_mapped"].get<int>(), 1500);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM admission_fact_codes WHERE source_version = 10"), 0);
}

}  // namespace
}  // namespace medcode
