// Tests of the GEM reader: flags, stored code forms, direction from the codes or the file name, malformed
// lines named by file and line, and the PCS fixtures.
#include <gtest/gtest.h>

#include "medcode/codes/gem.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;

std::string parse_error(std::string_view text, std::string_view source = "gem.txt") {
  try {
    parse_gem_file(text, source);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

TEST(GemParser, ReadsTheFiveFlagsOfEachEntry) {
  GemFile file = parse_gem_file(
      "4139  I208    10000\r\n"
      "0010  A000    00000\r\n"
      "66604 O720    10111\r\n"
      "66604 O43211  10112\r\n"
      "7999  NoDx    11000\r\n",
      "2018_I9gem.txt");
  EXPECT_EQ(file.direction, k_icd9cm_to_icd10cm);
  ASSERT_EQ(file.entries.size(), 5u);
  const GemEntry& approximate = file.entries[0];
  EXPECT_TRUE(approximate.approximate);
  EXPECT_FALSE(approximate.no_map);
  EXPECT_FALSE(approximate.combination);
  EXPECT_EQ(approximate.line, 1u);
  EXPECT_FALSE(file.entries[1].approximate);
  const GemEntry& second_choice = file.entries[3];
  EXPECT_TRUE(second_choice.combination);
  EXPECT_EQ(second_choice.scenario, 1);
  EXPECT_EQ(second_choice.choice_list, 2);
  const GemEntry& no_map = file.entries[4];
  EXPECT_TRUE(no_map.no_map);
  EXPECT_FALSE(no_map.target_code.has_value());
  EXPECT_EQ(no_map.source_code, "7999");
}

TEST(GemParser, StoresIcd10cmCodesDottedAndIcd9CodesUndotted) {
  GemFile file = parse_gem_file("E0000 Y990    00000\nV0101 Z20818  10000\n25001 E109 10000\n", "gem.txt");
  EXPECT_EQ(file.entries[0].source_code, "E0000");
  EXPECT_EQ(file.entries[0].target_code, "Y99.0");
  EXPECT_EQ(file.entries[1].source_code, "V0101");
  EXPECT_EQ(file.entries[1].target_code, "Z20.818");
  EXPECT_EQ(file.entries[2].target_code, "E10.9");
}

TEST(GemParser, TellsIcd10ToIcd9FromTheCodesWhateverTheName) {
  GemFile file =
      parse_gem_file("A000    0010  00000\nI208    4139  10000\nZ20818  V0101 10000\n", "mappings.txt");
  EXPECT_EQ(file.direction, k_icd10cm_to_icd9cm);
  EXPECT_EQ(file.entries[0].source_code, "A00.0");
  EXPECT_EQ(file.entries[0].target_code, "0010");
}

TEST(GemParser, ReadsThePcsFixturesInBothDirections) {
  auto forward = util::read_input(fixture("gem/2018_gem_pcs_I9I10.txt"));
  GemFile file = parse_gem_file(forward.content, forward.name);
  EXPECT_EQ(file.direction, k_icd9pcs_to_icd10pcs);
  ASSERT_EQ(file.entries.size(), 10u);
  EXPECT_EQ(file.entries[0].source_code, "0066");
  EXPECT_EQ(file.entries[0].target_code, "02703ZZ");
  EXPECT_TRUE(file.entries[9].no_map);
  EXPECT_EQ(file.entries[9].line, 10u);

  auto backward = util::read_input(fixture("gem/2018_gem_pcs_I10I9.txt"));
  GemFile reverse = parse_gem_file(backward.content, backward.name);
  EXPECT_EQ(reverse.direction, k_icd10pcs_to_icd9pcs);
  EXPECT_EQ(reverse.entries[1].source_code, "0016070");
  EXPECT_EQ(reverse.entries[1].target_code, "0231");
}

TEST(GemParser, TakesTheDirectionFromTheNameWhenTheCodesFitSeveral) {
  // 8872 is an ICD-9 diagnosis or procedure shape, B020ZZZ an ICD-10-CM or ICD-10-PCS shape.
  constexpr std::string_view k_ambiguous = "8872  B020ZZZ 10000\n";
  EXPECT_EQ(parse_gem_file(k_ambiguous, "gem_i9pcs.txt").direction, k_icd9pcs_to_icd10pcs);
  EXPECT_EQ(parse_gem_file(k_ambiguous, "2018_gem_pcs_I9I10.txt").direction, k_icd9pcs_to_icd10pcs);
  EXPECT_EQ(parse_gem_file(k_ambiguous, "2018_I9gem.txt").direction, k_icd9cm_to_icd10cm);
  EXPECT_EQ(parse_gem_file(k_ambiguous, "dir/2018_gem_cm_I9I10.txt.gz").direction, k_icd9cm_to_icd10cm);
  std::string message = parse_error(k_ambiguous, "mappings.txt");
  EXPECT_NE(
      message.find("mappings.txt: its codes fit ICD-9-CM → ICD-10-CM and ICD-9-CM procedure → ICD-10-PCS"),
      std::string::npos)
      << message;
}

TEST(GemParser, LetsTheNoMapTargetTellDiagnosesFromProcedures) {
  EXPECT_EQ(parse_gem_file("8872  B020ZZZ 10000\n0002  NoPCS 11000\n", "x.txt").direction,
            k_icd9pcs_to_icd10pcs);
  EXPECT_EQ(parse_gem_file("8872  B020ZZZ 10000\n0002  NoDx 11000\n", "x.txt").direction,
            k_icd9cm_to_icd10cm);
}

TEST(GemParser, NamesFileAndLineOfALineWithTooFewFields) {
  std::string message = parse_error("4139  I208    10000\n\n4139  I209\n", "2018_I9gem.txt");
  EXPECT_NE(message.find("2018_I9gem.txt:3: expected 3 fields (source code, target code, flags), found 2"),
            std::string::npos)
      << message;
}

TEST(GemParser, NamesTheFlagsFieldWhenItIsNotFiveDigits) {
  std::string message = parse_error("4139  I208    10000\n4139  I209    1000\n");
  EXPECT_NE(message.find("gem.txt:2: flags field '1000' is not five digits"), std::string::npos) << message;
  message = parse_error("4139  I208    1000X\n");
  EXPECT_NE(message.find("gem.txt:1: flags field '1000X'"), std::string::npos) << message;
}

TEST(GemParser, RejectsAFlagThatIsNeitherZeroNorOne) {
  std::string message = parse_error("4139  I208    10000\n4139  I209    12000\n");
  EXPECT_NE(message.find("gem.txt:2: no map flag (digit 2 of '12000') is 2, expected 0 or 1"),
            std::string::npos)
      << message;
}

TEST(GemParser, RejectsAScenarioOnAnEntryThatIsNoCombination) {
  std::string message = parse_error("4139  I208    10010\n");
  EXPECT_NE(message.find("gem.txt:1: flags '10010': combination flag 0 with scenario 1 and choice list 0"),
            std::string::npos)
      << message;
  message = parse_error("66604 O720    10100\n");
  EXPECT_NE(message.find("gem.txt:1: flags '10100': combination flag 1 with scenario 0"), std::string::npos)
      << message;
}

TEST(GemParser, NamesTheSourceCodeThatDoesNotFitTheDirection) {
  std::string message = parse_error("4139  I208    10000\n4139  I209    10000\nX139  I209    10000\n");
  EXPECT_NE(message.find("gem.txt:3: source code 'X139' is not an ICD-9-CM code"), std::string::npos)
      << message;
}

TEST(GemParser, NamesTheTargetCodeThatDoesNotFitTheDirection) {
  std::string message = parse_error("4139  I208    10000\n4139  I209    10000\n4139  12    10000\n");
  EXPECT_NE(message.find("gem.txt:3: target code '12' is not an ICD-10-CM code"), std::string::npos)
      << message;
}

TEST(GemParser, RejectsANoMapTargetWithoutTheNoMapFlagAndTheOtherWayRound) {
  std::string message = parse_error("4139  I208    10000\n7999  NoDx    10000\n");
  EXPECT_NE(message.find("gem.txt:2: target code 'NoDx' with no-map flag 0"), std::string::npos) << message;
  message = parse_error("4139  I208    10000\n7999  I209    11000\n");
  EXPECT_NE(message.find("gem.txt:2: target code 'I209' with no-map flag 1"), std::string::npos) << message;
}

TEST(GemParser, RejectsTheProcedureNoMapTargetInADiagnosisGem) {
  std::string message = parse_error("4139  I208    10000\n4139  I209    10000\n7999  NoPCS   11000\n");
  EXPECT_NE(
      message.find("gem.txt:3: target 'NoPCS' in an ICD-9-CM → ICD-10-CM GEM, whose no-map target is NoDx"),
      std::string::npos)
      << message;
}

TEST(GemParser, RejectsAnEmptyFileAndAFileWithoutCodePairs) {
  EXPECT_NE(parse_error("\r\n\r\n").find("gem.txt: empty file"), std::string::npos);
  std::string message = parse_error("hello world 10000\n");
  EXPECT_NE(message.find("gem.txt: no line pairs an ICD-9-CM code"), std::string::npos) << message;
}

TEST(GemParser, RecognisesGemContentByItsFirstLine) {
  EXPECT_TRUE(looks_like_gem_file("\r\n0010  A000    00000\r\n"));
  EXPECT_TRUE(looks_like_gem_file("XW033E5 NoPCS 11000\n"));
  EXPECT_FALSE(looks_like_gem_file("0016070 Bypass Cerebral Ventricle to Nasopharynx\n"));
  EXPECT_FALSE(looks_like_gem_file("A000 0010\n"));
  EXPECT_FALSE(looks_like_gem_file(""));
}

TEST(GemCodeSet, AcceptsCodesInAnyCommonForm) {
  EXPECT_EQ(gem_code(GemCodeSet::icd9cm, "413.9"), "4139");
  EXPECT_EQ(gem_code(GemCodeSet::icd9cm, " e849.0 "), "E8490");
  EXPECT_EQ(gem_code(GemCodeSet::icd9cm, "v45.81"), "V4581");
  EXPECT_EQ(gem_code(GemCodeSet::icd9pcs, "00.66"), "0066");
  EXPECT_EQ(gem_code(GemCodeSet::icd10cm, "i209"), "I20.9");
  EXPECT_EQ(gem_code(GemCodeSet::icd10pcs, "02703zz"), "02703ZZ");
  EXPECT_FALSE(gem_code(GemCodeSet::icd9cm, "I209"));
  EXPECT_FALSE(gem_code(GemCodeSet::icd9pcs, "V4581"));
  EXPECT_FALSE(gem_code(GemCodeSet::icd9pcs, "00"));
}

}  // namespace
}  // namespace medcode::codes
