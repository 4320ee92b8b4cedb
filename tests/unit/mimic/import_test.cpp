// Tests of the MIMIC importer on an in-memory store: typed rows, the staging swap, skipping, and that a
// failure keeps what the store had.
#include "medcode/mimic/import.h"

#include <gtest/gtest.h>

#include <fstream>

#include "medcode/util/error.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::mimic {
namespace {

namespace fs = std::filesystem;
using testing::query_int;
using testing::query_text;
using testing::TempDir;

class MimicImporter : public ::testing::Test {
 protected:
  void write_patients(const std::string& body) {
    fs::create_directories(m_dir / "hosp");
    std::ofstream(m_dir / "hosp/patients.csv")
        << "subject_id,gender,anchor_age,anchor_year,anchor_year_group,dod\n"
        << body;
  }
  MimicImportSummary import(bool replace = false) {
    MimicImportOptions options;
    options.dir = m_dir.path();
    options.replace = replace;
    return import_mimic(m_db, options);
  }

  TempDir m_dir;
  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(MimicImporter, LoadsTypedRowsAndRecordsTheTable) {
  write_patients("1,F,52,2180,2014 - 2016,\n2,M,70,2150,\"2008 - 2010\",2151-01-02\n");
  MimicImportSummary summary = import();
  ASSERT_EQ(summary.tables.size(), 1u);
  EXPECT_EQ(summary.tables[0].rows, 2);
  EXPECT_EQ(summary.tables[0].status, "imported");
  EXPECT_EQ(query_text(m_db,
                       "SELECT typeof(subject_id) || typeof(anchor_age) || typeof(dod) FROM mimic4_patients "
                       "WHERE subject_id = 1"),
            "integerintegernull");
  EXPECT_EQ(query_text(m_db, "SELECT anchor_year_group FROM mimic4_patients WHERE subject_id = 2"),
            "2008 - 2010");
  EXPECT_EQ(query_int(m_db, "SELECT rows FROM mimic_tables WHERE name = 'mimic4_patients'"), 2);
  EXPECT_TRUE(has_table(m_db, "mimic4_patients"));
}

TEST_F(MimicImporter, SkipsATableAlreadyImportedAndReplacesItOnRequest) {
  write_patients("1,F,52,2180,2014 - 2016,\n");
  import();
  write_patients("1,F,52,2180,2014 - 2016,\n2,M,70,2150,2008 - 2010,\n");
  EXPECT_EQ(import().tables[0].status, "skipped");
  EXPECT_EQ(query_int(m_db, "SELECT count(*) FROM mimic4_patients"), 1);
  EXPECT_EQ(import(true).tables[0].rows, 2);
  EXPECT_EQ(query_int(m_db, "SELECT count(*) FROM mimic4_patients"), 2);
}

TEST_F(MimicImporter, AFailedReplaceKeepsTheOldTableAndDropsTheStagingTable) {
  write_patients("1,F,52,2180,2014 - 2016,\n");
  import();
  write_patients("1,F,52,2180,2014 - 2016,\n2,M,seventy,2150,2008 - 2010,\n");
  try {
    import(true);
    FAIL() << "a non-integer age must be refused";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(
        std::string(error.what()).find("patients.csv:3: column 'anchor_age': 'seventy' is not an integer"),
        std::string::npos)
        << error.what();
  }
  EXPECT_EQ(query_int(m_db, "SELECT count(*) FROM mimic4_patients"), 1);
  EXPECT_EQ(query_int(m_db, "SELECT count(*) FROM sqlite_master WHERE name LIKE '%staging%'"), 0);
}

TEST_F(MimicImporter, EmptyKeysAreNoDuplicatesAndOddHeaderNamesAreQuoted) {
  fs::create_directories(m_dir / "hosp");
  std::ofstream(m_dir / "hosp/d_labitems.csv") << "itemid,label,\"odd \"\"name\"\"\"\n,a,x\n,b,y\n1,c,z\n";
  MimicImportSummary summary = import();
  ASSERT_EQ(summary.tables.size(), 1u);
  EXPECT_EQ(summary.tables[0].rows, 3);
  EXPECT_EQ(query_text(m_db, "SELECT \"odd \"\"name\"\"\" FROM mimic4_d_labitems WHERE itemid = 1"), "z");
}

TEST_F(MimicImporter, RefusesAnUnknownTableNameAsAUsageError) {
  write_patients("1,F,52,2180,2014 - 2016,\n");
  MimicImportOptions options;
  options.dir = m_dir.path();
  options.tables = {"patient"};
  try {
    import_mimic(m_db, options);
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::usage);
  }
}

}  // namespace
}  // namespace medcode::mimic
