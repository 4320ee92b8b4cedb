// Tests of import_icd10pcs into an in-memory store: codes and order files, packaging, year, fetched files,
// and bad input leaving the store as it was.
#include <gtest/gtest.h>

#include <fstream>

#include "medcode/codes/import.h"
#include "medcode/fetch/file_registry.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::codes {
namespace {

namespace fs = std::filesystem;
using medcode::testing::fixture;
using medcode::testing::shared_data;
using medcode::testing::TempDir;

std::string query(store::Database& db, const std::string& sql) { return testing::query_text(db, sql); }

ImportOptions with_paths(std::vector<fs::path> paths) {
  ImportOptions options;
  options.paths = std::move(paths);
  return options;
}

Error import_error(store::Database& db, const ImportOptions& options) {
  try {
    import_icd10pcs(db, options);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no Error thrown";
  return Error(ExitCode::ok, "");
}

class Icd10pcsImport : public ::testing::Test {
 protected:
  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(Icd10pcsImport, ImportsTheReal2023CodesFileWithTablesAsParentsAndSectionsAsChapters) {
  ImportSummary summary =
      import_icd10pcs(m_db, with_paths({shared_data("cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz")}));
  EXPECT_EQ(summary.year, 2023);
  EXPECT_EQ(summary.n_codes, 78496);
  EXPECT_EQ(summary.n_billable, 78496);
  EXPECT_EQ(summary.counters["file"], "codes");
  EXPECT_EQ(query(m_db, "SELECT n_codes || ' ' || n_billable FROM releases WHERE system = 'icd10pcs'"),
            "78496 78496");
  EXPECT_EQ(
      query(m_db,
            "SELECT description || ' | ' || parent || ' | ' || chapter FROM codes WHERE code = '0016070'"),
      "Bypass Cerebral Ventricle to Nasopharynx with Autologous Tissue Substitute, Open Approach | 001 | 0");
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM code_groups WHERE kind = 'chapter'"), "17");
  EXPECT_EQ(query(m_db, "SELECT description FROM code_groups WHERE key = 'X'"), "New Technology");
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM codes WHERE chapter IS NULL OR length(code) <> 7"), "0");
}

TEST_F(Icd10pcsImport, StoresOrderFileHeadersAsNonBillableCodesWithShortDescriptions) {
  ImportSummary summary = import_icd10pcs(m_db, with_paths({fixture("icd10pcs/icd10pcs_order_2023.txt")}));
  EXPECT_EQ(summary.n_codes, 5);
  EXPECT_EQ(summary.n_billable, 3);
  EXPECT_EQ(summary.counters["file"], "order");
  EXPECT_EQ(summary.counters["headers"], 2);
  EXPECT_EQ(
      query(
          m_db,
          "SELECT billable || ' ' || coalesce(parent, '-') || ' ' || chapter FROM codes WHERE code = 'BW0'"),
      "0 - B");
  EXPECT_EQ(query(m_db, "SELECT short_description FROM codes WHERE code = '0016070'"),
            "Bypass Cereb Vent to Nasophar w Autol Sub, Open Approach");
  EXPECT_EQ(query(m_db, "SELECT description FROM code_groups WHERE key = 'B'"), "Imaging");
}

TEST_F(Icd10pcsImport, PrefersTheOrderFileWhenGivenBothAndRecordsItAsTheSource) {
  fs::path order = fixture("icd10pcs/icd10pcs_order_2023.txt");
  ImportSummary summary =
      import_icd10pcs(m_db, with_paths({fixture("icd10pcs/icd10pcs_codes_2023.txt"), order}));
  EXPECT_EQ(summary.counters["file"], "order");
  auto sources = nlohmann::json::parse(query(m_db, "SELECT sources FROM releases"));
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0]["role"], "order");
  EXPECT_EQ(sources[0]["path"], fs::absolute(order).string());
  EXPECT_EQ(sources[0]["sha256"], util::sha256_file_hex(order));
}

TEST_F(Icd10pcsImport, PicksTheOrderFileOutOfCmsZipByContent) {
  ImportSummary summary =
      import_icd10pcs(m_db, with_paths({fixture("icd10pcs/2023-icd-10-pcs-order-file-mini.zip")}));
  EXPECT_EQ(summary.year, 2023);
  EXPECT_EQ(summary.n_codes, 5);
  EXPECT_EQ(summary.counters["file"], "order");
}

TEST_F(Icd10pcsImport, TakesTheYearFromTheOptionsElseTheFileNameElseAsksForIt) {
  TempDir dir;
  fs::copy_file(fixture("icd10pcs/icd10pcs_codes_2023.txt"), dir / "pcs_codes.txt");
  Error error = import_error(m_db, with_paths({dir / "pcs_codes.txt"}));
  EXPECT_EQ(error.code(), ExitCode::usage);
  EXPECT_NE(std::string(error.what()).find("pass --year"), std::string::npos) << error.what();
  ImportOptions options = with_paths({dir / "pcs_codes.txt"});
  options.year = 2024;
  EXPECT_EQ(import_icd10pcs(m_db, options).year, 2024);
}

TEST_F(Icd10pcsImport, ImportsTheFilesFetchedForTheNewestYearWhenGivenNoPaths) {
  fetch::FetchedFile file;
  file.system = "icd10pcs";
  file.year = 2023;
  file.role = "codes";
  file.url = "https://www.cms.gov/files/zip/2023-icd-10-pcs-codes-file.zip#icd10pcs_codes_2023.txt";
  file.path = fs::absolute(fixture("icd10pcs/icd10pcs_codes_2023.txt"));
  file.sha256 = util::sha256_file_hex(file.path);
  file.origin = "mirror";
  file.fetched_at = "2024-01-01T00:00:00Z";
  fetch::record_fetched_file(m_db, file, std::nullopt);
  ImportSummary summary = import_icd10pcs(m_db, ImportOptions{});
  EXPECT_EQ(summary.year, 2023);
  EXPECT_EQ(summary.n_codes, 6);
}

TEST_F(Icd10pcsImport, WithNothingFetchedNamesTheFetchCommandToRun) {
  ImportOptions options;
  options.year = 2023;
  Error error = import_error(m_db, options);
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find("medcode fetch icd10pcs --year 2023"), std::string::npos)
      << error.what();
}

TEST_F(Icd10pcsImport, ReimportReplacesTheReleaseWhole) {
  import_icd10pcs(m_db, with_paths({fixture("icd10pcs/icd10pcs_order_2023.txt")}));
  ImportSummary summary = import_icd10pcs(m_db, with_paths({fixture("icd10pcs/icd10pcs_codes_2023.txt")}));
  EXPECT_EQ(query(m_db, "SELECT count(*) || ' ' || max(id) FROM releases"),
            "1 " + std::to_string(summary.release_id));
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM codes"), "6");
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM codes WHERE code = '001'"), "0");
}

TEST_F(Icd10pcsImport, BadInputLeavesThePreviousReleaseAsItWas) {
  import_icd10pcs(m_db, with_paths({fixture("icd10pcs/icd10pcs_order_2023.txt")}));
  const std::string snapshot =
      "SELECT (SELECT imported_at || n_codes FROM releases) || group_concat(code || billable)"
      " FROM codes";
  std::string before = query(m_db, snapshot);
  ImportOptions options = with_paths({fixture("icd10pcs/icd10pcs_codes_bad_2023.txt")});
  options.year = 2023;
  Error error = import_error(m_db, options);
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find("icd10pcs_codes_bad_2023.txt:3:"), std::string::npos)
      << error.what();
  EXPECT_EQ(query(m_db, snapshot), before);
}

TEST_F(Icd10pcsImport, RefusesAnEmptyFileAndAFileOfAnotherKind) {
  TempDir dir;
  { std::ofstream(dir / "icd10pcs_codes_2023.txt"); }
  Error empty = import_error(m_db, with_paths({dir / "icd10pcs_codes_2023.txt"}));
  EXPECT_EQ(empty.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(empty.what()).find("icd10pcs_codes_2023.txt: empty file"), std::string::npos)
      << empty.what();
  Error other = import_error(m_db, with_paths({fixture("hcpcs/HCPC2019_MINI.txt")}));
  EXPECT_EQ(other.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(other.what())
                .find("HCPC2019_MINI.txt: not an ICD-10-PCS codes file, order file or index XML"),
            std::string::npos)
      << other.what();
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM releases"), "0");
}

TEST_F(Icd10pcsImport, WritesTheIndexTermsInTheSameReleaseAsTheCodes) {
  ImportSummary summary = import_icd10pcs(
      m_db, with_paths({fixture("icd10pcs/index_mini.xml"), fixture("icd10pcs/icd10pcs_codes_2023.txt")}));
  EXPECT_EQ(summary.year, 2023);
  EXPECT_EQ(summary.n_codes, 6);
  EXPECT_EQ(summary.counters["index_terms"], 16);
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM index_terms WHERE release_id = " +
                            std::to_string(summary.release_id)),
            "16");
  EXPECT_EQ(
      query(m_db,
            "SELECT t.path || ' | ' || p.path FROM index_terms t JOIN index_terms p ON p.id = t.parent_id"
            " WHERE t.code = 'BQ04ZZ1'"),
      "Plain Radiography > Femur > Left | Plain Radiography > Femur");
  EXPECT_EQ(query(m_db, "SELECT json_extract(sources, '$[1].role') FROM releases"), "index");
  EXPECT_NE(query(m_db, "SELECT search_terms FROM codes WHERE code = 'BW00ZZZ'").find("Radiography"),
            std::string::npos)
      << "the index paths that lead to a code are among its search terms";
}

TEST_F(Icd10pcsImport, RefusesTheIndexAloneOrTwiceAndAYearItContradicts) {
  Error alone = import_error(m_db, with_paths({fixture("icd10pcs/index_mini.xml")}));
  EXPECT_EQ(alone.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(alone.what()).find("the index alone has no code descriptions"), std::string::npos)
      << alone.what();
  Error twice =
      import_error(m_db, with_paths({fixture("icd10pcs/index_mini.xml"), fixture("icd10pcs/index_mini.xml"),
                                     fixture("icd10pcs/icd10pcs_codes_2023.txt")}));
  EXPECT_EQ(twice.code(), ExitCode::usage);
  ImportOptions options =
      with_paths({fixture("icd10pcs/index_mini.xml"), fixture("icd10pcs/icd10pcs_codes_2023.txt")});
  options.year = 2024;
  Error year = import_error(m_db, options);
  EXPECT_EQ(year.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(year.what()).find("the index is for 2023 but --year 2024 was given"),
            std::string::npos)
      << year.what();
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM releases"), "0");
}

}  // namespace
}  // namespace medcode::codes
