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

TEST(CodeSystem, CptCodesAreFourDigitsAndADigitOrFTUMWithTwoCharacterModifiers) {
  EXPECT_EQ(canonical_code(System::cpt, "99213"), "99213");
  EXPECT_EQ(canonical_code(System::cpt, "0001f"), "0001F");
  EXPECT_EQ(canonical_code(System::cpt, " 0042T "), "0042T");
  EXPECT_EQ(canonical_code(System::cpt, "0001U"), "0001U");
  EXPECT_EQ(canonical_code(System::cpt, "0002M"), "0002M");
  EXPECT_EQ(canonical_code(System::cpt, "25"), "25") << "modifiers are two characters";
  EXPECT_EQ(canonical_code(System::cpt, "p1"), "P1");
  EXPECT_EQ(format_problem(System::cpt, "9921"), "CPT codes have 5 characters (modifiers 2)");
  const std::string shape = "CPT codes are four digits followed by a digit or F, T, U or M";
  EXPECT_EQ(format_problem(System::cpt, "J1100"), shape);
  EXPECT_EQ(format_problem(System::cpt, "0001X"), shape);
  EXPECT_EQ(format_problem(System::cpt, "992.13"), "CPT codes have no dot");
}

TEST(CodeSystem, ParsesCptNamesAndGuessesCptFromFiveDigitsOrFourDigitsAndALetter) {
  for (const char* name : {"cpt", "CPT", "cpt4", "CPT-4", "hcpcs-level-i", "HCPCS Level I"})
    EXPECT_EQ(parse_system(name), System::cpt) << name;
  EXPECT_EQ(parse_system("hcpcs-level-ii"), System::hcpcs);
  EXPECT_EQ(system_name(System::cpt), "cpt");
  EXPECT_EQ(system_display_name(System::cpt), "CPT");
  EXPECT_EQ(guess_system("99213"), System::cpt);
  EXPECT_EQ(guess_system("0001F"), System::cpt);
  EXPECT_EQ(guess_system("0042T"), System::cpt);
  EXPECT_EQ(guess_system("0001U"), System::cpt);
  EXPECT_EQ(guess_system("J1100"), System::hcpcs) << "a letter then four digits stays HCPCS";
  EXPECT_EQ(guess_system("E11.9"), System::icd10cm);
  EXPECT_NE(guess_system("992.13"), System::cpt);
}

}  // namespace
}  // namespace medcode::codes
