// Tests of code validation: shape, existence in the release, billability and the reason given for each.
#include <gtest/gtest.h>

#include "medcode/codes/validator.h"
#include "medcode/util/error.h"
#include "sample_release.h"

namespace medcode::codes {
namespace {

class ValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override { sample::build(m_db); }
  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(ValidatorTest, AcceptsBillableCodesInAnyCommonForm) {
  Validator validator(m_db, std::nullopt, std::nullopt);
  for (std::string input : {"E11.9", "e119", " E11.9 ", "e11.9"}) {
    CodeValidation result = validator.validate(input);
    EXPECT_TRUE(result.valid) << input;
    EXPECT_TRUE(result.billable) << input;
    EXPECT_EQ(result.canonical, "E11.9") << input;
    EXPECT_EQ(result.input, input);
    EXPECT_EQ(result.year, 2023);
    EXPECT_EQ(result.description, "Type 2 diabetes mellitus without complications");
    EXPECT_TRUE(result.reason.empty());
  }
}

TEST_F(ValidatorTest, ReportsABadFormatWithTheRuleItBreaks) {
  Validator validator(m_db, std::nullopt, std::nullopt);
  CodeValidation result = validator.validate("XYZ");
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.problem, "bad_format");
  EXPECT_EQ(result.reason, "bad format: the second character of an ICD-10-CM code is a digit");
  EXPECT_FALSE(result.canonical);
  EXPECT_EQ(validator.validate("").reason, "bad format: empty code");
  EXPECT_EQ(validator.validate("E1.19").reason, "bad format: the dot must follow the third character");
}

TEST_F(ValidatorTest, ReportsCodesMissingFromTheReleaseWithTheNearestExistingCode) {
  Validator validator(m_db, std::nullopt, std::nullopt);
  CodeValidation result = validator.validate("E11.999");
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.problem, "not_in_release");
  EXPECT_EQ(result.canonical, "E11.999");
  EXPECT_EQ(result.reason, "not in ICD-10-CM 2023 (nearest existing code: E11.9)");
  EXPECT_EQ(validator.validate("Z99.999").reason, "not in ICD-10-CM 2023");
}

TEST_F(ValidatorTest, ExplainsThatAHeaderNeedsMoreCharacters) {
  Validator validator(m_db, std::nullopt, std::nullopt);
  CodeValidation result = validator.validate("E11");
  EXPECT_FALSE(result.valid);
  EXPECT_FALSE(result.billable);
  EXPECT_EQ(result.problem, "not_billable");
  EXPECT_EQ(result.description, "Type 2 diabetes mellitus");
  EXPECT_EQ(result.reason,
            "not billable: category with 2 child codes; more characters needed (e.g. E11.641, E11.649, "
            "E11.65, ...)");
}

TEST_F(ValidatorTest, ExplainsThatACodeNeedsASeventhCharacter) {
  Validator validator(m_db, std::nullopt, std::nullopt);
  EXPECT_EQ(validator.validate("S060X1").reason,
            "not billable: needs a 7th character: A, D, S (e.g. S06.0X1A)");
  EXPECT_TRUE(validator.validate("s060x1a").valid);
}

TEST_F(ValidatorTest, ChecksAgainstTheNamedYear) {
  Validator newest(m_db, std::nullopt, std::nullopt);
  EXPECT_TRUE(newest.validate("E11.65").valid);
  Validator older(m_db, System::icd10cm, 2022);
  CodeValidation result = older.validate("E11.65");
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.year, 2022);
  EXPECT_EQ(result.reason, "not in ICD-10-CM 2022 (nearest existing code: E11.6)");
}

TEST_F(ValidatorTest, NamedSystemWithoutAReleaseIsBadInput) {
  try {
    Validator validator(m_db, System::icd10pcs, std::nullopt);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(error.what()).find("medcode import icd10pcs"), std::string::npos) << error.what();
  }
}

TEST_F(ValidatorTest, GuessedSystemWithoutAReleaseIsReportedForThatCode) {
  Validator validator(m_db, std::nullopt, std::nullopt);
  CodeValidation result = validator.validate("0DTJ4ZZ");
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.system, System::icd10pcs);
  EXPECT_EQ(result.problem, "no_release");
  EXPECT_EQ(result.reason, "no ICD-10-PCS release in the store (run `medcode import icd10pcs`)");
  EXPECT_TRUE(validator.validate("E11.9").valid) << "other codes are still checked";
}

TEST_F(ValidatorTest, ModifierIsValidButNotBillable) {
  sample::build_hcpcs(m_db);
  Validator validator(m_db, std::nullopt, std::nullopt);
  CodeValidation modifier = validator.validate("25");
  EXPECT_EQ(modifier.system, System::hcpcs);
  EXPECT_TRUE(modifier.valid);
  EXPECT_FALSE(modifier.billable);
  EXPECT_NE(modifier.reason.find("modifier"), std::string::npos);
  EXPECT_TRUE(validator.validate("j1234").valid);
}

TEST_F(ValidatorTest, JsonHasEveryField) {
  Validator validator(m_db, std::nullopt, std::nullopt);
  nlohmann::json valid = to_json(validator.validate("e119"));
  EXPECT_EQ(valid["input"], "e119");
  EXPECT_EQ(valid["canonical"], "E11.9");
  EXPECT_EQ(valid["system"], "icd10cm");
  EXPECT_EQ(valid["year"], 2023);
  EXPECT_EQ(valid["valid"], true);
  EXPECT_EQ(valid["billable"], true);
  EXPECT_EQ(valid["description"], "Type 2 diabetes mellitus without complications");
  EXPECT_TRUE(valid["reason"].is_null());
  nlohmann::json invalid = to_json(validator.validate("XYZ"));
  EXPECT_TRUE(invalid["canonical"].is_null());
  EXPECT_EQ(invalid["valid"], false);
  EXPECT_EQ(invalid["problem"], "bad_format");
}

TEST_F(ValidatorTest, ReusesItsLookupsForThousandsOfCodes) {
  Validator validator(m_db, std::nullopt, std::nullopt);
  int n_valid = 0;
  for (int i = 0; i < 5000; ++i) n_valid += validator.validate(i % 2 ? "E11.9" : "E11.649").valid ? 1 : 0;
  EXPECT_EQ(n_valid, 5000);
}

}  // namespace
}  // namespace medcode::codes
