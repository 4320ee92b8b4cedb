// Tests of code systems' canonical forms and format checks.
#include <gtest/gtest.h>

#include "medcode/codes/code_system.h"

namespace medcode::codes {
namespace {

TEST(CodeSystem, CanonicalisesIcd10cmCodesWrittenInAnyCommonForm) {
  EXPECT_EQ(canonical_code(System::icd10cm, "E119"), "E11.9");
  EXPECT_EQ(canonical_code(System::icd10cm, "e11.9"), "E11.9");
  EXPECT_EQ(canonical_code(System::icd10cm, " E11.9 "), "E11.9");
  EXPECT_EQ(canonical_code(System::icd10cm, "S060X1A"), "S06.0X1A");
  EXPECT_EQ(canonical_code(System::icd10cm, "A00"), "A00");
  EXPECT_FALSE(canonical_code(System::icd10cm, "E1.19"));
  EXPECT_FALSE(canonical_code(System::icd10cm, "11X"));
  EXPECT_FALSE(canonical_code(System::icd10cm, "E11.99999"));
}

TEST(CodeSystem, CanonicalisesPcsAndHcpcsWithoutADot) {
  EXPECT_EQ(canonical_code(System::icd10pcs, "0016070"), "0016070");
  EXPECT_EQ(canonical_code(System::icd10pcs, "bt41zzz"), "BT41ZZZ");
  EXPECT_TRUE(format_problem(System::icd10pcs, "0016O70")) << "PCS never uses the letter O";
  EXPECT_EQ(canonical_code(System::hcpcs, "a0021"), "A0021");
  EXPECT_EQ(canonical_code(System::hcpcs, "25"), "25") << "modifiers are two characters";
  EXPECT_TRUE(format_problem(System::hcpcs, "A00.21"));
}

TEST(CodeSystem, ParsesSystemNamesAndGuessesFromShape) {
  EXPECT_EQ(parse_system("ICD-10-CM"), System::icd10cm);
  EXPECT_EQ(parse_system("icd10pcs"), System::icd10pcs);
  EXPECT_EQ(parse_system("HCPCS"), System::hcpcs);
  EXPECT_FALSE(parse_system("icd9"));
  EXPECT_EQ(guess_system("E11.9"), System::icd10cm);
  EXPECT_EQ(guess_system("0016070"), System::icd10pcs);
  EXPECT_EQ(guess_system("J1100"), System::hcpcs);
}

}  // namespace
}  // namespace medcode::codes
