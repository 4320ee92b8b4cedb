// Tests of the HCPCS Level II annual-file reader.
#include <gtest/gtest.h>

#include "medcode/codes/hcpcs_parser.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;
using medcode::testing::shared_data;

std::vector<HcpcsEntry> parse_fixture(const std::string& name) {
  return parse_hcpcs_annual_file(util::read_file(fixture("hcpcs/" + name)), name);
}

TEST(HcpcsParser, SkipsTheDisclaimerAndJoinsContinuationRecordsIntoTheLongDescription) {
  auto entries = parse_fixture("HCPC2019_MINI.txt");
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[0].code, "A0021");
  EXPECT_EQ(entries[0].line, 4u);
  EXPECT_EQ(entries[1].code, "A0080");
  EXPECT_EQ(entries[1].description,
            "Non-emergency transportation, per mile - vehicle provided by volunteer (individual or organization), "
            "with no vested interest");
  EXPECT_EQ(entries[1].short_description, "Noninterest escort in non er");
}

TEST(HcpcsParser, DecodesWindows1252BytesInsteadOfDroppingThem) {
  auto entries = parse_fixture("HCPC2019_MINI.txt");
  EXPECT_EQ(entries[2].description, "Compounded drug, not otherwise classified, caf\xC3\xA9 test");
}

TEST(HcpcsParser, KeepsModifiersApartAndReadsDatesAndAttributes) {
  auto entries = parse_fixture("HCPC2019_MINI.txt");
  const HcpcsEntry& modifier = entries[4];
  EXPECT_TRUE(modifier.modifier);
  EXPECT_EQ(modifier.code, "25");
  EXPECT_NE(modifier.description.find("on the same day of the procedure"), std::string::npos);
  const HcpcsEntry& terminated = entries[3];
  EXPECT_EQ(terminated.termination_date, "2018-12-31");
  EXPECT_EQ(terminated.action_code, "D");
  EXPECT_EQ(entries[0].attributes["betos"], "O1A");
  EXPECT_EQ(entries[0].attributes["added_date"], "2000-01-01");
}

TEST(HcpcsParser, RejectsAContinuationWithoutItsFirstRecordNamingTheLine) {
  try {
    parse_fixture("HCPC2019_ORPHAN.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("HCPC2019_ORPHAN.txt:5:"), std::string::npos) << e.what();
  }
}

TEST(HcpcsParser, RejectsARecordShorterThanTheLayout) {
  try {
    parse_fixture("HCPC2019_SHORT.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("HCPC2019_SHORT.txt:5: record is 150 columns long"), std::string::npos)
        << e.what();
  }
}

TEST(HcpcsParser, RejectsAnUnknownRecordIdentificationCode) {
  std::string text = util::read_file(fixture("hcpcs/HCPC2019_MINI.txt"));
  std::size_t at = text.find("A0021");
  text[at + 10] = '5';
  EXPECT_THROW(parse_hcpcs_annual_file(text, "x.txt"), Error);
}

TEST(HcpcsParser, ReadsTheReal2019AnnualFile) {
  std::string text = util::read_zip_member(shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip"),
                                           "HCPC2019_CONTR_ANWEB.txt");
  auto entries = parse_hcpcs_annual_file(text, "HCPC2019_CONTR_ANWEB.txt");
  auto modifiers = std::count_if(entries.begin(), entries.end(), [](const auto& e) { return e.modifier; });
  EXPECT_EQ(entries.size() - static_cast<std::size_t>(modifiers), 6440u);
  EXPECT_EQ(modifiers, 360);
  auto a0021 = std::find_if(entries.begin(), entries.end(), [](const auto& e) { return e.code == "A0021"; });
  ASSERT_NE(a0021, entries.end());
  EXPECT_EQ(a0021->description, "Ambulance service, outside state per mile, transport (medicaid only)");
}

}  // namespace
}  // namespace medcode::codes
