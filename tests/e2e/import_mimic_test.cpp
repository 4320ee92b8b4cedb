// End-to-end tests of `medcode import mimic-iv|mimic-iii` on the real MIMIC demos and the note fixtures: row
// counts, column types, keys, skipping and --replace, --tables, and bad input that must leave no table
// behind.
#include <gtest/gtest.h>
#include <zlib.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "support/medcode_process.h"
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

const fs::path k_mimic_iv = shared_data("mimic-iv-demo-2.2");
const fs::path k_mimic_iii = shared_data("mimic-iii-demo-1.4");

class ImportMimic : public ::testing::Test {
 protected:
  fs::path db() const { return m_dir / "m.db"; }
  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db().string()});
    return run_medcode(args, m_dir.path());
  }
  std::int64_t count(const std::string& sql) { return query_int(db(), sql); }
  std::string text(const std::string& sql) { return query_text(db(), sql); }

  // A release folder holding hosp/admissions.csv with `admissions` as content (and patients from the demo).
  fs::path folder_with_admissions(const std::string& admissions) {
    fs::path dir = m_dir / "release";
    fs::create_directories(dir / "hosp");
    fs::copy_file(k_mimic_iv / "hosp/patients.csv.gz", dir / "hosp/patients.csv.gz");
    std::ofstream(dir / "hosp/admissions.csv") << admissions;
    return dir;
  }

  TempDir m_dir;
};

const std::string k_admissions_header =
    "subject_id,hadm_id,admittime,dischtime,deathtime,admission_type,admit_provider_id,admission_location,"
    "discharge_location,insurance,language,marital_status,race,edregtime,edouttime,hospital_expire_flag\n";
const std::string k_admission_row =
    "10004235,24181354,2196-02-24 14:38:00,2196-03-04 14:02:00,,URGENT,P03YMR,TRANSFER FROM HOSPITAL,"
    "\"SKILLED NURSING FACILITY\",Medicaid,ENGLISH,SINGLE,BLACK/CAPE VERDEAN,,,0\n";

TEST_F(ImportMimic, ImportsEveryDemoTableWithItsRowsAndTypes) {
  ProcessResult result = medcode({"--json", "import", "mimic-iv", k_mimic_iv.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto out = nlohmann::json::parse(result.out);
  EXPECT_EQ(out["tables"].size(), 30u);  // every demo file but the README and LICENSE
  // Data lines of each file (`zcat FILE | wc -l` minus the header), as MANIFEST.md counts them.
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_patients"), 100);
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_admissions"), 275);
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_diagnoses_icd"), 4506);
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_diagnoses_icd WHERE icd_version = 9"), 2193);
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_procedures_icd"), 722);
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_labevents"), 107727);
  EXPECT_EQ(count("SELECT sum(rows) FROM mimic_tables WHERE source = 'mimic-iv'"),
            out["rows"].get<std::int64_t>());
  // Ids are integers, measurements reals, codes text with their leading zeros.
  EXPECT_EQ(text("SELECT typeof(subject_id) || typeof(hadm_id) || typeof(valuenum) FROM mimic4_labevents "
                 "WHERE valuenum IS NOT NULL LIMIT 1"),
            "integerintegerreal");
  EXPECT_EQ(text("SELECT long_title FROM mimic4_d_icd_diagnoses WHERE icd_code = '0090' AND icd_version = 9"),
            "Infectious colitis, enteritis, and gastroenteritis");
  EXPECT_EQ(text("SELECT admittime FROM mimic4_admissions WHERE hadm_id = 24181354"), "2196-02-24 14:38:00");
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_admissions WHERE deathtime IS NULL"), 260);
  // Keys and indexes that cohort queries use.
  EXPECT_EQ(
      count("SELECT count(*) FROM sqlite_master WHERE name = 'mimic4_admissions_by_hadm_id' AND sql LIKE "
            "'CREATE UNIQUE INDEX%'"),
      1);
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_master WHERE name = 'mimic4_labevents_by_hadm_id'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_master WHERE name LIKE '%__staging'"), 0);
  EXPECT_EQ(text("SELECT status FROM runs WHERE command = 'import mimic-iv'"), "ok");
  EXPECT_EQ(count("SELECT count(*) FROM metrics WHERE name = 'mimic_import_rows_per_second'"), 30);
}

TEST_F(ImportMimic, SkipsImportedTablesUnlessReplaceIsGiven) {
  ASSERT_EQ(medcode({"import", "mimic-iv", k_mimic_iv.string(), "--tables", "patients,admissions"}).exit_code,
            0);
  ProcessResult again =
      medcode({"--json", "import", "mimic-iv", k_mimic_iv.string(), "--tables", "patients"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["tables"][0]["status"], "skipped");
  ProcessResult replaced =
      medcode({"--json", "import", "mimic-iv", k_mimic_iv.string(), "--tables", "patients", "--replace"});
  ASSERT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_EQ(nlohmann::json::parse(replaced.out)["tables"][0]["status"], "imported");
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_patients"), 100);  // replaced, not appended
}

TEST_F(ImportMimic, TablesSelectsWhatIsImportedAndRejectsUnknownNames) {
  ProcessResult result =
      medcode({"import", "mimic-iv", k_mimic_iv.string(), "--tables", "hosp/patients,diagnoses_icd"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM mimic_tables"), 2);
  ProcessResult unknown = medcode({"import", "mimic-iv", k_mimic_iv.string(), "--tables", "labevent"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("no table 'labevent'"), std::string::npos) << unknown.err;
  ProcessResult missing = medcode({"import", "mimic-iv", k_mimic_iv.string(), "--tables", "chartevents"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_NE(missing.err.find("no file for icu/chartevents"), std::string::npos) << missing.err;
}

TEST_F(ImportMimic, ImportsTheMimicIiiDemo) {
  ProcessResult result = medcode({"import", "mimic-iii", k_mimic_iii.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM mimic3_patients"), 100);
  EXPECT_EQ(count("SELECT count(*) FROM mimic3_admissions"), 129);
  EXPECT_EQ(count("SELECT count(*) FROM mimic3_diagnoses_icd"), 1761);
  EXPECT_EQ(count("SELECT count(*) FROM mimic3_procedures_icd"), 506);
  EXPECT_EQ(text("SELECT icd9_code FROM mimic3_diagnoses_icd WHERE row_id = 112344"), "99591");
}

TEST_F(ImportMimic, ReadsMultiLineQuotedNotes) {
  ProcessResult result = medcode({"import", "mimic-iv", fixture("mimic").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_discharge"), 5);
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_radiology"), 3);
  std::string note = text("SELECT text FROM mimic4_discharge WHERE note_id = '10000032-DS-23'");
  EXPECT_EQ(note.rfind("Chief Complaint:\nHypotension, \"feeling weak\"\n", 0), 0u) << note;
}

TEST_F(ImportMimic, RowWithTheWrongFieldCountExitsThreeNamingFileAndLineAndLeavesNoTable) {
  fs::path dir =
      folder_with_admissions(k_admissions_header + k_admission_row + k_admission_row.substr(0, 40) + "\n");
  ProcessResult result = medcode({"import", "mimic-iv", dir.string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("admissions.csv:3: expected 16 fields, found"), std::string::npos) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_master WHERE name LIKE 'mimic4_admissions%'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM mimic_tables WHERE name = 'mimic4_admissions'"), 0);
}

TEST_F(ImportMimic, FailedReplaceKeepsThePreviousTable) {
  fs::path dir = folder_with_admissions(k_admissions_header + k_admission_row);
  ASSERT_EQ(medcode({"import", "mimic-iv", dir.string()}).exit_code, 0);
  std::ofstream(dir / "hosp/admissions.csv")
      << k_admissions_header << k_admission_row << "1,x2,,,,,,,,,,,,,,\n";
  ProcessResult result = medcode({"import", "mimic-iv", dir.string(), "--tables", "admissions", "--replace"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("admissions.csv:3: column 'hadm_id': 'x2' is not an integer"), std::string::npos)
      << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_admissions"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_master WHERE name LIKE '%__staging'"), 0);
}

TEST_F(ImportMimic, DuplicateKeyExitsThreeNamingTheValue) {
  fs::path dir = folder_with_admissions(k_admissions_header + k_admission_row + k_admission_row);
  ProcessResult result = medcode({"import", "mimic-iv", dir.string(), "--tables", "admissions"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("duplicate key: more than one row has hadm_id 24181354"), std::string::npos)
      << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_master WHERE name LIKE 'mimic4_admissions%'"), 0);
}

TEST_F(ImportMimic, MissingRequiredColumnAndOpenQuoteAreBadInput) {
  fs::path dir = folder_with_admissions("subject_id,admittime,dischtime\n1,2,3\n");
  ProcessResult result = medcode({"import", "mimic-iv", dir.string(), "--tables", "admissions"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("admissions.csv:1: no column 'hadm_id'"), std::string::npos) << result.err;
  std::ofstream(dir / "hosp/admissions.csv") << k_admissions_header << k_admission_row << "1,2,\"open\n";
  result = medcode({"import", "mimic-iv", dir.string(), "--tables", "admissions"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("admissions.csv:3: a quoted field is not closed"), std::string::npos)
      << result.err;
}

TEST_F(ImportMimic, ChecksumMismatchExitsFiveAndNoVerifySkipsTheCheck) {
  fs::path dir = m_dir / "release";
  fs::create_directories(dir / "hosp");
  fs::copy_file(k_mimic_iv / "hosp/patients.csv.gz", dir / "hosp/patients.csv.gz");
  std::ofstream(dir / "SHA256SUMS.txt") << std::string(64, '0') << " hosp/patients.csv.gz\n";
  ProcessResult result = medcode({"import", "mimic-iv", dir.string()});
  EXPECT_EQ(result.exit_code, 5);
  EXPECT_NE(result.err.find("does not match"), std::string::npos) << result.err;
  EXPECT_EQ(count("SELECT count(*) FROM mimic_tables"), 0);
  EXPECT_EQ(medcode({"import", "mimic-iv", dir.string(), "--no-verify"}).exit_code, 0);
  EXPECT_EQ(count("SELECT count(*) FROM mimic4_patients"), 100);
}

TEST_F(ImportMimic, FolderWithoutMimicTablesExitsThree) {
  fs::create_directories(m_dir / "empty");
  ProcessResult result = medcode({"import", "mimic-iv", (m_dir / "empty").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("holds none of the mimic-iv tables"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace medcode
