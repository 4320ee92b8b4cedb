// Tests of import_gem into an in-memory store: counters per direction, the year, replacing a re-import, and
// bad input leaving the store as it was.
#include <gtest/gtest.h>

#include <fstream>

#include "medcode/codes/import.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::codes {
namespace {

namespace fs = std::filesystem;
using medcode::testing::fixture;
using medcode::testing::TempDir;

ImportOptions with_paths(std::vector<fs::path> paths) {
  ImportOptions options;
  options.paths = std::move(paths);
  return options;
}

Error import_error(store::Database& db, const ImportOptions& options) {
  try {
    import_gem(db, options);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no Error thrown";
  return Error(ExitCode::ok, "");
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class GemImport : public ::testing::Test {
 protected:
  std::string query(const std::string& sql) { return testing::query_text(m_db, sql); }
  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(GemImport, ImportsBothPcsFixturesInOneCallWithCountersPerDirection) {
  ImportSummary summary = import_gem(
      m_db, with_paths({fixture("gem/2018_gem_pcs_I9I10.txt"), fixture("gem/2018_gem_pcs_I10I9.txt")}));
  EXPECT_EQ(summary.year, 2018);
  EXPECT_EQ(summary.release_id, 0);
  EXPECT_EQ(summary.n_codes, 15);
  const auto& forward = summary.counters["icd9pcs_to_icd10pcs"];
  EXPECT_EQ(forward["year"], 2018);
  EXPECT_EQ(forward["entries"], 10);
  EXPECT_EQ(forward["source_codes"], 5);
  EXPECT_EQ(forward["mappings"], 9);
  EXPECT_EQ(forward["no_map"], 1);
  EXPECT_EQ(forward["approximate"], 8);
  EXPECT_EQ(forward["combination"], 5);
  EXPECT_EQ(summary.counters["icd10pcs_to_icd9pcs"]["entries"], 5);
  EXPECT_EQ(query("SELECT count(*) FROM gem_mappings WHERE year = 2018 AND source = 'icd9pcs' AND "
                  "target = 'icd10pcs'"),
            "10");
  EXPECT_EQ(query("SELECT coalesce(target_code, 'NULL') || ' ' || approximate || no_map || combination || "
                  "scenario || choice_list FROM gem_mappings WHERE source_code = '0002'"),
            "NULL 11000");
}

TEST_F(GemImport, StoresIcd10cmTargetsDotted) {
  TempDir dir;
  write_text(dir / "2017_I9gem.txt", "4139  I208    10000\r\n4139  I209    10000\r\n");
  import_gem(m_db, with_paths({dir / "2017_I9gem.txt"}));
  EXPECT_EQ(query("SELECT group_concat(target_code, ' ') FROM gem_mappings WHERE source_code = '4139' AND "
                  "year = 2017"),
            "I20.8 I20.9");
}

TEST_F(GemImport, TakesTheYearFromTheOptionBeforeTheFileName) {
  ImportOptions options = with_paths({fixture("gem/2018_gem_pcs_I10I9.txt")});
  options.year = 2016;
  EXPECT_EQ(import_gem(m_db, options).year, 2016);
  EXPECT_EQ(query("SELECT group_concat(DISTINCT year) FROM gem_mappings"), "2016");
}

TEST_F(GemImport, ReimportingAYearAndDirectionReplacesItsRowsAndKeepsOthers) {
  import_gem(m_db,
             with_paths({fixture("gem/2018_gem_pcs_I9I10.txt"), fixture("gem/2018_gem_pcs_I10I9.txt")}));
  ImportOptions other_year = with_paths({fixture("gem/2018_gem_pcs_I9I10.txt")});
  other_year.year = 2017;
  import_gem(m_db, other_year);
  import_gem(m_db, with_paths({fixture("gem/2018_gem_pcs_I9I10.txt")}));
  EXPECT_EQ(
      query("SELECT group_concat(n, ' ') FROM (SELECT year || ':' || source || ':' || count(*) AS n FROM "
            "gem_mappings GROUP BY year, source ORDER BY year, source)"),
      "2017:icd9pcs:10 2018:icd10pcs:5 2018:icd9pcs:10");
}

TEST_F(GemImport, RequiresPathsBecauseGemsAreNotFetched) {
  Error error = import_error(m_db, ImportOptions{});
  EXPECT_EQ(error.code(), ExitCode::usage);
  EXPECT_NE(std::string(error.what()).find("GEMs are not fetched"), std::string::npos);
}

TEST_F(GemImport, AsksForTheYearWhenNoFileNameStatesIt) {
  TempDir dir;
  write_text(dir / "i9gem.txt", "4139  I208    10000\n");
  Error error = import_error(m_db, with_paths({dir / "i9gem.txt"}));
  EXPECT_EQ(error.code(), ExitCode::usage);
  EXPECT_NE(std::string(error.what()).find("pass --year"), std::string::npos) << error.what();
}

TEST_F(GemImport, RefusesTwoFilesOfOneDirection) {
  TempDir dir;
  write_text(dir / "2017_I9gem.txt", "4139  I208    10000\n");
  write_text(dir / "2018_I9gem.txt", "4139  I208    10000\n");
  Error error = import_error(m_db, with_paths({dir / "2017_I9gem.txt", dir / "2018_I9gem.txt"}));
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find("2018_I9gem.txt: a second ICD-9-CM → ICD-10-CM GEM"),
            std::string::npos)
      << error.what();
}

TEST_F(GemImport, ABadFileLeavesTheStoreAsItWas) {
  import_gem(m_db, with_paths({fixture("gem/2018_gem_pcs_I10I9.txt")}));
  TempDir dir;
  write_text(dir / "2018_I9gem.txt", "4139  I208    10000\n4139  I209    1000\n");
  Error error =
      import_error(m_db, with_paths({fixture("gem/2018_gem_pcs_I9I10.txt"), dir / "2018_I9gem.txt"}));
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find("2018_I9gem.txt:2: flags field '1000'"), std::string::npos)
      << error.what();
  EXPECT_EQ(query("SELECT group_concat(DISTINCT source) || ' ' || count(*) FROM gem_mappings"), "icd10pcs 5");
}

TEST_F(GemImport, RejectsAFileThatIsNotAGem) {
  Error error = import_error(m_db, with_paths({fixture("icd10pcs/icd10pcs_codes_2023.txt")}));
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find("icd10pcs_codes_2023.txt: not a GEM file"), std::string::npos)
      << error.what();
}

}  // namespace
}  // namespace medcode::codes
