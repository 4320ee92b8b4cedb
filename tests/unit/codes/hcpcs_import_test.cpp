// Tests of import_hcpcs into an in-memory store: codes and modifiers apart, billable by termination date,
// packaging, year, and bad input leaving the store as it was.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>

#include "medcode/codes/import.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::codes {
namespace {

namespace fs = std::filesystem;
using medcode::testing::fixture;
using medcode::testing::shared_data;
using medcode::testing::TempDir;

std::string query(store::Database& db, const std::string& sql) { return testing::query_text(db, sql); }

ImportOptions with_paths(std::vector<fs::path> paths, std::optional<int> year = std::nullopt) {
  ImportOptions options;
  options.paths = std::move(paths);
  options.year = year;
  return options;
}

Error import_error(store::Database& db, const ImportOptions& options) {
  try {
    import_hcpcs(db, options);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no Error thrown";
  return Error(ExitCode::ok, "");
}

// Every code row of the store, for comparing two imports.
std::string dump_codes(store::Database& db) {
  return query(db,
               "SELECT group_concat(code || '|' || kind || '|' || description || '|' || billable || '|' ||"
               " coalesce(attributes, ''), char(10)) FROM (SELECT * FROM codes ORDER BY code)");
}

class HcpcsImport : public ::testing::Test {
 protected:
  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(HcpcsImport, ImportsTheOfficial2019ZipWithCodesAndModifiersApart) {
  ImportSummary summary =
      import_hcpcs(m_db, with_paths({shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip")}));
  EXPECT_EQ(summary.year, 2019);
  EXPECT_EQ(summary.n_codes, 6440);
  EXPECT_EQ(summary.counters["modifiers"], 360);
  EXPECT_EQ(summary.counters["terminated"], 506);
  EXPECT_EQ(summary.n_billable, 6440 - 506);
  EXPECT_EQ(summary.warnings, std::vector<std::string>{});
  EXPECT_FALSE(summary.counters.contains("fields_dropped"));
  EXPECT_FALSE(summary.counters.contains("records_too_long"));
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM codes WHERE kind = 'modifier'"), "360");
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM codes WHERE kind = 'code'"), "6440");
  EXPECT_EQ(query(m_db, "SELECT description FROM codes WHERE code = 'A0021'"),
            "Ambulance service, outside state per mile, transport (medicaid only)");
  EXPECT_EQ(
      query(m_db,
            "SELECT json_extract(attributes, '$.betos') || ' ' || chapter FROM codes WHERE code = 'A0021'"),
      "O1A A");
}

TEST_F(HcpcsImport, ModifiersAreNeitherBillableNorCountedAsCodes) {
  ImportSummary summary = import_hcpcs(m_db, with_paths({fixture("hcpcs/HCPC2019_MINI.txt")}));
  EXPECT_EQ(summary.n_codes, 5);
  EXPECT_EQ(summary.counters["modifiers"], 2);
  EXPECT_EQ(query(m_db, "SELECT n_codes FROM releases"), "5");
  EXPECT_EQ(
      query(m_db,
            "SELECT kind || ' ' || billable || ' ' || coalesce(chapter, '-') FROM codes WHERE code = 'AD'"),
      "modifier 0 -");
  EXPECT_EQ(query(m_db, "SELECT description FROM codes WHERE code = 'AD'"),
            "Medical supervision by a physician: more than four concurrent anesthesia procedures");
}

TEST_F(HcpcsImport, ACodeTerminatedBeforeTheReleaseYearIsKeptButNotBillable) {
  import_hcpcs(m_db, with_paths({fixture("hcpcs/HCPC2019_MINI.txt")}));
  EXPECT_EQ(query(m_db, "SELECT billable FROM codes WHERE code = 'G9999'"), "0");  // ended 2018-12-31
  EXPECT_EQ(query(m_db, "SELECT billable FROM codes WHERE code = 'Q0035'"), "1");  // ends 2019-12-31
  ImportSummary summary = import_hcpcs(m_db, with_paths({fixture("hcpcs/HCPC2019_MINI.txt")}, 2020));
  EXPECT_EQ(summary.counters["terminated"], 2);
  EXPECT_EQ(query(m_db,
                  "SELECT billable FROM codes JOIN releases ON releases.id = release_id"
                  " WHERE code = 'Q0035' AND year = 2020"),
            "0");
}

TEST_F(HcpcsImport, ReadsThePlainFileTheGzipAndTheZipAlike) {
  import_hcpcs(m_db, with_paths({fixture("hcpcs/HCPC2019_MINI.txt")}));
  std::string plain = dump_codes(m_db);
  EXPECT_NE(plain.find("J7999|code|Compounded drug, not otherwise classified, caf\u00e9 \u2019test\u2019|1|"),
            std::string::npos)
      << plain;
  import_hcpcs(m_db, with_paths({fixture("hcpcs/HCPC2019_MINI.txt.gz")}));
  EXPECT_EQ(dump_codes(m_db), plain);
  ImportSummary summary =
      import_hcpcs(m_db, with_paths({fixture("hcpcs/2019-Alpha-Numeric-HCPCS-File-mini.zip")}));
  EXPECT_EQ(summary.year, 2019);
  EXPECT_EQ(dump_codes(m_db), plain);
  EXPECT_EQ(query(m_db, "SELECT count(*) FROM releases"), "1");
}

TEST_F(HcpcsImport, TakesTheYearFromTheFileNameElseAsksForIt) {
  TempDir dir;
  fs::copy_file(fixture("hcpcs/HCPC2019_MINI.txt"), dir / "annual.txt");
  Error error = import_error(m_db, with_paths({dir / "annual.txt"}));
  EXPECT_EQ(error.code(), ExitCode::usage);
  EXPECT_NE(std::string(error.what()).find("pass --year"), std::string::npos) << error.what();
  EXPECT_EQ(import_hcpcs(m_db, with_paths({dir / "annual.txt"}, 2019)).year, 2019);
}

TEST_F(HcpcsImport, RefusesTwoAnnualFilesAndAFileOfAnotherKind) {
  Error two = import_error(
      m_db, with_paths({fixture("hcpcs/HCPC2019_MINI.txt"), fixture("hcpcs/HCPC2019_MINI.txt.gz")}));
  EXPECT_EQ(two.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(two.what()).find("expected one HCPCS annual file, found 2"), std::string::npos)
      << two.what();
  Error other =
      import_error(m_db, with_paths({fixture("icd10pcs/2023-icd-10-pcs-order-file-mini.zip")}, 2019));
  EXPECT_EQ(other.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(other.what()).find("no member is an HCPCS annual fixed-width file"),
            std::string::npos)
      << other.what();
}

TEST_F(HcpcsImport, BadInputLeavesThePreviousReleaseAsItWas) {
  import_hcpcs(m_db, with_paths({fixture("hcpcs/HCPC2019_MINI.txt")}));
  std::string before = query(m_db, "SELECT imported_at || n_codes FROM releases") + dump_codes(m_db);
  for (const char* name : {"HCPC2019_ORPHAN.txt", "HCPC2019_SHORT.txt"}) {
    Error error = import_error(m_db, with_paths({fixture(std::string("hcpcs/") + name)}));
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find(std::string(name) + ":5:"), std::string::npos) << error.what();
    EXPECT_EQ(query(m_db, "SELECT imported_at || n_codes FROM releases") + dump_codes(m_db), before);
  }
}

TEST_F(HcpcsImport, KeepsEveryCodeOfRecordsThatBendTheLayoutWithOneWarningEach) {
  ImportSummary summary = import_hcpcs(m_db, with_paths({fixture("hcpcs/HCPC2019_SHIFTED_DATES.txt")}));
  EXPECT_EQ(summary.n_codes, 7);
  EXPECT_EQ(summary.counters["fields_dropped"], 5);
  ASSERT_EQ(summary.warnings.size(), 5u);
  EXPECT_NE(summary.warnings[0].find("HCPC2019_SHIFTED_DATES.txt:5: C9488: asc_payment_group_effective_date"),
            std::string::npos)
      << summary.warnings[0];
  EXPECT_EQ(query(m_db,
                  "SELECT count(*) FROM codes WHERE code IN ('C9488', 'C9745', 'C9746', 'C9747', 'C9748')"
                  " AND json_extract(attributes, '$.asc_payment_group_effective_date') IS NULL"),
            "5");
  EXPECT_EQ(query(m_db, "SELECT billable FROM codes WHERE code = 'C9748'"), "0");  // ended 2018-12-31
}

TEST_F(HcpcsImport, StrictStopsAtTheFirstBentFieldAndLeavesTheStoreAsItWas) {
  import_hcpcs(m_db, with_paths({fixture("hcpcs/HCPC2019_MINI.txt")}));
  std::string before = query(m_db, "SELECT imported_at || n_codes FROM releases") + dump_codes(m_db);
  ImportOptions options = with_paths({fixture("hcpcs/HCPC2019_SHIFTED_DATES.txt")});
  options.strict = true;
  Error error = import_error(m_db, options);
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find("HCPC2019_SHIFTED_DATES.txt:5: asc_payment_group_effective_date"),
            std::string::npos)
      << error.what();
  EXPECT_EQ(query(m_db, "SELECT imported_at || n_codes FROM releases") + dump_codes(m_db), before);
}

TEST_F(HcpcsImport, ListsTheFirstTwentyWarningsThenHowManyMore) {
  std::string fixture_text = util::read_file(fixture("hcpcs/HCPC2019_SHIFTED_DATES.txt"));
  std::string bent = fixture_text.substr(fixture_text.find("\nC9488") + 1, 322);  // with its CR LF
  std::string text;
  for (int i = 0; i < 25; ++i) {
    std::string record = bent;
    record.replace(0, 5, fmt::format("C{:04}", 9000 + i));
    text += record;
  }
  TempDir dir;
  std::ofstream(dir / "HCPC2019_MANY.txt", std::ios::binary) << text;
  ImportSummary summary = import_hcpcs(m_db, with_paths({dir / "HCPC2019_MANY.txt"}));
  EXPECT_EQ(summary.n_codes, 25);
  EXPECT_EQ(summary.counters["fields_dropped"], 25);
  ASSERT_EQ(summary.warnings.size(), 21u);
  EXPECT_NE(summary.warnings[19].find("HCPC2019_MANY.txt:20: C9019:"), std::string::npos)
      << summary.warnings[19];
  EXPECT_NE(summary.warnings[20].find("HCPC2019_MANY.txt: ... and 5 more (25 fields kept empty"),
            std::string::npos)
      << summary.warnings[20];
}

}  // namespace
}  // namespace medcode::codes
