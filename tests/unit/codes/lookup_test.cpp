// Tests of the read side of the codes module (catalog, validator, search, export) on a small imported release.
#include <gtest/gtest.h>

#include <sstream>

#include "medcode/codes/catalog.h"
#include "medcode/codes/export.h"
#include "medcode/codes/import.h"
#include "medcode/codes/search.h"
#include "medcode/codes/validator.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;

class Lookup : public ::testing::Test {
 protected:
  void SetUp() override {
    ImportOptions options;
    options.paths = {fixture("icd10cm/tabular_mini.xml"), fixture("icd10cm/index_mini.xml")};
    import_icd10cm(m_db, options);
    m_release = find_release(m_db, System::icd10cm, std::nullopt);
  }
  store::Database m_db = store::Database::open_in_memory();
  ReleaseInfo m_release;
};

bool has_note(const CodeDetails& details, const std::string& kind, const std::string& owner, const std::string& relation) {
  for (const auto& note : details.notes) {
    if (note.kind == kind && note.owner == owner && note.relation == relation) return true;
  }
  return false;
}

TEST_F(Lookup, FindsTheNewestReleaseAndRefusesAMissingOneNamingTheImport) {
  EXPECT_EQ(m_release.year, 2023);
  EXPECT_EQ(m_release.n_billable, 8);
  try {
    find_release(m_db, System::hcpcs, std::nullopt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("medcode import hcpcs"), std::string::npos) << e.what();
  }
}

TEST_F(Lookup, DescribesASeventhCharacterCodeWithItsHierarchyAndInheritedNotes) {
  Catalog catalog(m_db, m_release);
  CodeDetails details = describe_code(catalog, "s060x1a");
  EXPECT_EQ(details.record.code, "S06.0X1A");
  EXPECT_TRUE(details.record.billable);
  ASSERT_TRUE(details.seventh.own);
  EXPECT_EQ(details.seventh.own->character, "A");
  EXPECT_EQ(details.seventh.own->meaning, "initial encounter");
  EXPECT_EQ(details.seventh.extends, "S06.0X1");
  EXPECT_EQ(details.seventh.defined_at, "S06");
  ASSERT_GE(details.hierarchy.size(), 6u);
  EXPECT_EQ(details.hierarchy.front().kind, "chapter");
  EXPECT_EQ(details.hierarchy[1].key, "S00-S09");
  EXPECT_EQ(details.hierarchy.back().key, "S06.0X1A");
  EXPECT_TRUE(has_note(details, "excludes1", "S06", "ancestor"));
  EXPECT_TRUE(has_note(details, "excludes2", "chapter:19", "chapter"));
}

TEST_F(Lookup, ExplainsWhyAHeaderIsNotBillable) {
  Catalog catalog(m_db, m_release);
  CodeDetails details = describe_code(catalog, "S06.0X1");
  EXPECT_FALSE(details.record.billable);
  ASSERT_TRUE(details.not_billable_reason);
  EXPECT_NE(details.not_billable_reason->find("7th character"), std::string::npos) << *details.not_billable_reason;
  EXPECT_TRUE(details.seventh.required);
  EXPECT_EQ(details.seventh.applicable.size(), 3u);
}

TEST_F(Lookup, AnUnknownCodeIsBadInputNamingTheNearestExistingCode) {
  Catalog catalog(m_db, m_release);
  try {
    describe_code(catalog, "S06.0X9");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("S06.0X"), std::string::npos) << e.what();
  }
}

TEST_F(Lookup, ValidatesFormatExistenceAndBillability) {
  Validator validator(m_db, std::nullopt, std::nullopt);
  CodeValidation good = validator.validate("s0990");
  EXPECT_TRUE(good.valid);
  EXPECT_EQ(good.canonical, "S09.90");
  CodeValidation header = validator.validate("S06");
  EXPECT_FALSE(header.valid);
  EXPECT_EQ(header.problem, "not_billable");
  CodeValidation missing = validator.validate("A00.1");
  EXPECT_EQ(missing.problem, "not_in_release");
  CodeValidation malformed = validator.validate("S0.6");
  EXPECT_EQ(malformed.problem, "bad_format");
  EXPECT_FALSE(malformed.canonical);
}

TEST_F(Lookup, SearchRanksDescriptionsAndIndexTermsAndSurvivesPunctuation) {
  SearchResult result = search_codes(m_db, m_release, "commotio", {});
  ASSERT_FALSE(result.hits.empty());
  EXPECT_EQ(result.hits.front().code, "S06.0") << "found through its inclusion term 'Commotio cerebri'";
  for (const char* awkward : {"S06.0X1A", "type-2 (diabetes)", "AND OR NOT", "concussion\"", "near(x y)"}) {
    EXPECT_NO_THROW(search_codes(m_db, m_release, awkward, {})) << awkward;
  }
  SearchOptions billable_only;
  billable_only.billable_only = true;
  for (const auto& hit : search_codes(m_db, m_release, "concussion", billable_only).hits) EXPECT_TRUE(hit.billable);
}

TEST_F(Lookup, SearchWithNoWordsIsAUsageError) {
  try {
    search_codes(m_db, m_release, " \" * ", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

TEST_F(Lookup, ExportsCanonicalCodesWithTabsInCodeOrder) {
  std::ostringstream out;
  ExportOptions options;
  options.billable_only = true;
  EXPECT_EQ(export_codes(m_db, m_release, options, out), 8);
  std::string text = out.str();
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "S06.0X1A\tConcussion with loss of consciousness of 30 minutes or less, initial encounter");
  EXPECT_NE(text.find("S09.90\tUnspecified injury of head\n"), std::string::npos);
  EXPECT_EQ(text.find("S06.0X7D"), std::string::npos);
}

}  // namespace
}  // namespace medcode::codes
