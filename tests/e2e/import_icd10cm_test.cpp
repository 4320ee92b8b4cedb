// End-to-end tests of `medcode import icd10cm` on the real FY2023 files and on bad input.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "medcode/store/database.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

using testing::fixture;
using testing::query_int;
using testing::query_text;
using testing::run_medcode;
using testing::shared_data;
using testing::TempDir;

std::string tabular_2023() { return shared_data("cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz").string(); }

// A snapshot of the code-set tables, to show that a failed import changed nothing.
std::string code_tables_digest(const std::filesystem::path& db_path) {
  store::Database db = store::Database::open(db_path, store::OpenMode::existing_only);
  store::Statement statement = db.prepare(
      "SELECT (SELECT group_concat(id || system || year || n_codes || n_billable || imported_at) FROM releases)"
      " || '/' || (SELECT count(*) FROM codes) || '/' || (SELECT count(*) FROM code_notes)"
      " || '/' || (SELECT count(*) FROM index_terms) || '/' || (SELECT count(*) FROM code_search)");
  statement.step();
  return statement.column_text(0);
}

// The real FY2023 import, done once per build and shared (support/shared_store.h).
class ImportIcd10cm : public ::testing::Test {
 protected:
  static std::filesystem::path db() { return testing::icd10cm_2023_store(); }
};

TEST_F(ImportIcd10cm, ImportsThePublishedNumberOfBillableCodes) {
  EXPECT_EQ(query_int(db(), "SELECT n_billable FROM releases WHERE system = 'icd10cm' AND year = 2023"), 73639);
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM codes WHERE billable = 1"), 73639);
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM codes WHERE code = 'S06.0X7D'"), 0);
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM codes WHERE code = 'S06.0X1A' AND seventh_meaning = 'initial encounter'"), 1);
}

TEST_F(ImportIcd10cm, KeepsIndexTermsNotesAndASearchableFullTextIndex) {
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM index_terms"), 80118);
  EXPECT_GT(query_int(db(), "SELECT count(*) FROM index_terms WHERE see IS NOT NULL"), 10000);
  EXPECT_GT(query_int(db(), "SELECT count(*) FROM code_notes WHERE owner = 'S06' AND kind = 'excludes1'"), 0);
  EXPECT_GT(query_int(db(), "SELECT count(*) FROM code_search WHERE code_search MATCH 'concussion'"), 10);
}

TEST_F(ImportIcd10cm, RecordsTheRunAndTheSourcesWithTheirChecksums) {
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM runs WHERE command = 'import icd10cm' AND status = 'ok' AND exit_code = 0"), 1);
  EXPECT_EQ(query_int(db(), "SELECT json_array_length(sources) FROM releases"), 2);
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM releases, json_each(releases.sources) WHERE length(json_extract(json_each.value, '$.sha256')) = 64"), 2);
}

TEST_F(ImportIcd10cm, ReimportReplacesTheReleaseAtomically) {
  TempDir dir;
  auto path = dir / "again.db";
  std::string tabular = fixture("icd10cm/tabular_mini.xml").string();
  ASSERT_EQ(run_medcode({"--db", path.string(), "import", "icd10cm", tabular}).exit_code, 0);
  auto first = query_int(path, "SELECT count(*) FROM codes");
  auto again = run_medcode({"--db", path.string(), "import", "icd10cm", tabular});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM releases"), 1);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM codes"), first);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM code_search"), first);
}

class ImportIcd10cmBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    auto result = run_medcode({"--db", db().string(), "import", "icd10cm", fixture("icd10cm/tabular_mini.xml").string(),
                               fixture("icd10cm/index_mini.xml").string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    m_before = code_tables_digest(db());
  }
  std::filesystem::path db() const { return m_dir / "store.db"; }
  void expect_store_unchanged() { EXPECT_EQ(code_tables_digest(db()), m_before); }

  TempDir m_dir;
  std::string m_before;
};

TEST_F(ImportIcd10cmBadInput, TruncatedXmlExitsThreeNamingTheLineAndLeavesTheStoreUnchanged) {
  auto result = run_medcode({"--db", db().string(), "import", "icd10cm", "--year", "2023",
                             fixture("icd10cm/tabular_truncated.xml").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("tabular_truncated.xml:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("malformed XML"), std::string::npos) << result.err;
  expect_store_unchanged();
}

TEST_F(ImportIcd10cmBadInput, TruncatedGzipExitsThreeAndLeavesTheStoreUnchanged) {
  std::string bytes = util::read_file(tabular_2023());
  auto truncated = m_dir / "icd10cm_tabular_2023.xml.gz";
  util::write_file_atomic(truncated, std::string_view(bytes).substr(0, bytes.size() / 2));
  auto result = run_medcode({"--db", db().string(), "import", "icd10cm", truncated.string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("icd10cm_tabular_2023.xml.gz"), std::string::npos) << result.err;
  expect_store_unchanged();
}

TEST_F(ImportIcd10cmBadInput, AFileOfAnotherKindExitsThree) {
  auto other = m_dir / "notes.txt";
  util::write_file_atomic(other, "this is not a code set\n");
  auto result = run_medcode({"--db", db().string(), "import", "icd10cm", "--year", "2023", other.string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("notes.txt: not an ICD-10-CM"), std::string::npos) << result.err;
  expect_store_unchanged();
}

TEST_F(ImportIcd10cmBadInput, AYearThatContradictsTheTabularExitsThree) {
  auto result = run_medcode({"--db", db().string(), "import", "icd10cm", "--year", "2024",
                             fixture("icd10cm/tabular_mini.xml").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("--year 2024"), std::string::npos) << result.err;
  expect_store_unchanged();
}

TEST_F(ImportIcd10cmBadInput, NoFetchedFilesAndNoPathsExitsThreeSayingWhatToRun) {
  auto result = run_medcode({"--db", db().string(), "import", "icd10cm", "--year", "2025"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("medcode fetch icd10cm --year 2025"), std::string::npos) << result.err;
  expect_store_unchanged();
}

// The import writes without syncing until its end (store::BulkWrite): a process killed at any point must still
// leave a consistent store, either as it was or, had the import already committed, with the whole release.
TEST_F(ImportIcd10cmBadInput, KilledPartWayLeavesTheStoreAsItWasOrWithTheWholeRelease) {
  std::string index = shared_data("cms/icd10cm/2023/icd10cm_index_2023.xml.gz").string();
  for (int delay_ms : {150, 500, 900}) {
    testing::BackgroundMedcode import({"--db", db().string(), "import", "icd10cm", tabular_2023(), index});
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    import.kill_now();
    EXPECT_EQ(query_text(db(), "PRAGMA integrity_check"), "ok") << "killed after " << delay_ms << " ms";
    if (code_tables_digest(db()) != m_before) {
      EXPECT_EQ(query_int(db(), "SELECT n_billable FROM releases WHERE year = 2023"), 73639);
      EXPECT_GT(query_int(db(), "SELECT count(*) FROM code_search WHERE code_search MATCH 'concussion'"), 10);
      return;  // the import finished before the kill; later delays would find the same
    }
  }
}

TEST_F(ImportIcd10cmBadInput, TheFailedRunIsRecordedWithItsExitCode) {
  run_medcode({"--db", db().string(), "import", "icd10cm", "--year", "2023", fixture("icd10cm/tabular_truncated.xml").string()});
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM runs WHERE status = 'failed' AND exit_code = 3"), 1);
}

TEST(ImportIcd10cmInputs, PrintsASummaryLineOrJson) {
  TempDir dir;
  auto text = run_medcode({"--db", (dir / "s.db").string(), "import", "icd10cm", fixture("icd10cm/tabular_mini.xml").string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("imported ICD-10-CM 2023: 15 codes, 8 billable"), std::string::npos) << text.out;
  auto json = run_medcode({"--db", (dir / "s.db").string(), "--json", "import", "icd10cm", fixture("icd10cm/tabular_mini.xml").string()});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find("\"billable\": 8"), std::string::npos) << json.out;
}

TEST(ImportIcd10cmInputs, CrossChecksTheOrderFileAndWarnsOfDifferences) {
  TempDir dir;
  auto result = run_medcode({"--db", (dir / "s.db").string(), "import", "icd10cm",
                             fixture("icd10cm/tabular_mini.xml").string(), fixture("icd10cm/order_mini.txt").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("S09.90XA"), std::string::npos) << "billable in the order file only: " << result.err;
  EXPECT_EQ(query_int(dir / "s.db", "SELECT count(*) FROM codes WHERE code = 'S06.0X1A' AND short_description = "
                                    "'Concussion w LOC of 30 minutes or less, init'"), 1);
}

TEST(ImportIcd10cmInputs, ReadsTheFilesFromAZipArchive) {
  TempDir dir;
  auto zip = dir / "icd10cm-2023.zip";
  std::string command = "cd '" + fixture("icd10cm").string() + "' && python3 -c \"import zipfile,sys; "
                        "z=zipfile.ZipFile(sys.argv[1],'w'); z.write('tabular_mini.xml'); z.write('index_mini.xml'); "
                        "z.writestr('README.pdf', b'%PDF'); z.close()\" '" + zip.string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0);
  auto result = run_medcode({"--db", (dir / "s.db").string(), "import", "icd10cm", zip.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(query_int(dir / "s.db", "SELECT count(*) FROM index_terms"), 6);
  EXPECT_EQ(query_int(dir / "s.db", "SELECT n_billable FROM releases"), 8);
}

TEST(Store, RefusesAFileThatIsNotASqliteDatabaseWithoutTouchingIt) {
  TempDir dir;
  auto path = dir / "not-a-store.db";
  util::write_file_atomic(path, "plain text, not SQLite\n");
  auto result = run_medcode({"--db", path.string(), "import", "icd10cm", fixture("icd10cm/tabular_mini.xml").string()});
  EXPECT_EQ(result.exit_code, 5);
  EXPECT_NE(result.err.find("not a SQLite database"), std::string::npos) << result.err;
  EXPECT_EQ(util::read_file(path), "plain text, not SQLite\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "not-a-store.db-wal"));
}

TEST(Store, RefusesAStoreWrittenByANewerMedcode) {
  TempDir dir;
  auto path = dir / "newer.db";
  {
    store::Database db = store::Database::open(path);
    db.exec("PRAGMA user_version = 999");
  }
  auto result = run_medcode({"--db", path.string(), "import", "icd10cm", fixture("icd10cm/tabular_mini.xml").string()});
  EXPECT_EQ(result.exit_code, 5);
  EXPECT_NE(result.err.find("newer medcode"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace medcode
