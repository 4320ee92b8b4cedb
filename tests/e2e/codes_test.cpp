// End-to-end tests of `medcode codes` against the real ICD-10-CM FY2023 release.
#include <gtest/gtest.h>

#include "support/medcode_process.h"
#include "support/shared_store.h"

namespace medcode {
namespace {

using testing::run_medcode;
using testing::TempDir;

testing::ProcessResult codes(std::vector<std::string> args) {
  args.insert(args.begin(), {"--db", testing::icd10cm_2023_store().string(), "codes"});
  return run_medcode(args);
}

std::size_t count_lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

TEST(CodesCommand, ExportsThePublishedNumberOfBillableCodes) {
  auto result = codes({"export", "--system", "icd10cm", "--year", "2023", "--billable-only"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(count_lines(result.out), 73639u);
  EXPECT_NE(result.out.find("\nE11.9\tType 2 diabetes mellitus without complications\n"), std::string::npos);
}

TEST(CodesCommand, ShowExplainsTheSeventhCharacterAndTheHierarchy) {
  auto result = codes({"show", "S06.0X1A"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("A: initial encounter"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("extends S06.0X1"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("Injuries to the head"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("Intracranial injury"), std::string::npos) << result.out;
  auto json = codes({"--json", "show", "s060x1a"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find("\"initial encounter\""), std::string::npos);
}

TEST(CodesCommand, ValidateGivesAReasonPerCodeAndExitsThreeWhenAnyIsInvalid) {
  auto result = codes({"validate", "E11.9", "e119", "E11", "Z99.999", "XYZ"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.out.find("e119       valid   E11.9"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("not billable"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("not in ICD-10-CM 2023"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("bad format"), std::string::npos) << result.out;
  auto valid = codes({"validate", "E11.9", "S06.0X1A"});
  EXPECT_EQ(valid.exit_code, 0) << valid.out << valid.err;
}

TEST(CodesCommand, SearchRanksTypeTwoDiabetesFirst) {
  auto result = codes({"--json", "search", "type 2 diabetes", "--limit", "5"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto first = result.out.find("\"code\": \"");
  ASSERT_NE(first, std::string::npos) << result.out;
  EXPECT_EQ(result.out.substr(first + 9, 3), "E11") << result.out;
}

TEST(CodesCommand, AnUnknownCodeExitsThree) {
  auto result = codes({"show", "Z99.999"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("Z99.999"), std::string::npos);
}

TEST(CodesCommand, AMissingStoreExitsThreeAndIsNotCreated) {
  TempDir dir;
  auto result = run_medcode({"--db", (dir / "absent.db").string(), "codes", "show", "E11.9"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_FALSE(std::filesystem::exists(dir / "absent.db"));
}

TEST(CodesCommand, ReleasesListsTheImportedCodeSets) {
  auto result = codes({"releases"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("icd10cm"), std::string::npos);
  EXPECT_NE(result.out.find("73639"), std::string::npos);
}

}  // namespace
}  // namespace medcode
