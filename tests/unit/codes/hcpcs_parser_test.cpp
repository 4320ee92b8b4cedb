// Tests of the HCPCS Level II annual-file reader on small fixtures laid out as the record layout says, and on
// the real 2019 file.
#include <gtest/gtest.h>

#include <algorithm>

#include "medcode/codes/hcpcs_parser.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/text.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;
using medcode::testing::shared_data;

std::string mini_text() { return util::read_file(fixture("hcpcs/HCPC2019_MINI.txt")); }

std::vector<HcpcsEntry> parse_fixture(const std::string& name) {
  return parse_hcpcs_annual_file(util::read_file(fixture("hcpcs/" + name)), name).entries;
}

const HcpcsEntry& find(const std::vector<HcpcsEntry>& entries, const std::string& code) {
  auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.code == code; });
  if (it == entries.end()) throw std::runtime_error("no entry " + code);
  return *it;
}

// The message of the Error(bad_input) that parsing `text` throws.
std::string parse_error(const std::string& text, const std::string& source = "annual.txt",
                        HcpcsReadOptions options = {}) {
  try {
    parse_hcpcs_annual_file(text, source, options);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return {};
}

// The MINI fixture with the record of `code` (its first occurrence) changed at a 1-based column.
std::string with_column(std::string text, const std::string& code, std::size_t column,
                        const std::string& value) {
  std::size_t at = text.find("\n" + code) + 1;
  text.replace(at + column - 1, value.size(), value);
  return text;
}

TEST(HcpcsParser, SkipsTheDisclaimerAndJoinsContinuationRecordsIntoTheLongDescription) {
  auto entries = parse_fixture("HCPC2019_MINI.txt");
  ASSERT_EQ(entries.size(), 7u);
  EXPECT_EQ(entries[0].code, "A0021");
  EXPECT_EQ(entries[0].line, 4u);
  EXPECT_EQ(entries[1].code, "A0080");
  EXPECT_EQ(
      entries[1].description,
      "Non-emergency transportation, per mile - vehicle provided by volunteer (individual or organization), "
      "with no vested interest");
  EXPECT_EQ(entries[1].short_description, "Noninterest escort in non er");
}

TEST(HcpcsParser, JoinsContinuationRecordsInSequenceNumberOrder) {
  std::string first = mini_text().substr(mini_text().find("\nA0080001003") + 1, 322);
  std::string second = mini_text().substr(mini_text().find("\nA0080002004") + 1, 322);
  std::string third = second;
  third.replace(5, 5, "00300");
  third.replace(11, 80, "and more words" + std::string(80 - 14, ' '));
  auto entries = parse_hcpcs_annual_file(first + third + second, "annual.txt").entries;
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(
      entries[0].description,
      "Non-emergency transportation, per mile - vehicle provided by volunteer (individual or organization), "
      "with no vested interest and more words");
}

TEST(HcpcsParser, DecodesWindows1252BytesInsteadOfDroppingThem) {
  auto entries = parse_fixture("HCPC2019_MINI.txt");
  // 0xE9 is é and 0x92 a right single quotation mark in Windows-1252.
  EXPECT_EQ(find(entries, "J7999").description,
            "Compounded drug, not otherwise classified, caf\u00e9 \u2019test\u2019");
}

TEST(HcpcsParser, CutsFieldsByColumnBeforeDecodingSoAccentedBytesDoNotShiftThem) {
  auto entries = parse_fixture("HCPC2019_MINI.txt");
  const HcpcsEntry& j7999 = find(entries, "J7999");
  EXPECT_EQ(j7999.short_description, "Compounded drug, noc");
  EXPECT_EQ(j7999.attributes["betos"], "O1E");
  EXPECT_EQ(j7999.attributes["pricing_indicators"], nlohmann::json::array({"51"}));
}

TEST(HcpcsParser, CountsColumnsInCharactersWhenTheFileWasConvertedToUtf8) {
  std::string utf8 = util::cp1252_to_utf8(mini_text());
  ASSERT_TRUE(util::is_valid_utf8(utf8));
  auto entries = parse_hcpcs_annual_file(utf8, "annual.txt").entries;
  const HcpcsEntry& j7999 = find(entries, "J7999");
  EXPECT_EQ(j7999.description, "Compounded drug, not otherwise classified, caf\u00e9 \u2019test\u2019");
  EXPECT_EQ(j7999.short_description, "Compounded drug, noc");
  EXPECT_EQ(j7999.attributes["added_date"], "2016-01-01");
}

TEST(HcpcsParser, KeepsModifiersApartFromCodes) {
  auto entries = parse_fixture("HCPC2019_MINI.txt");
  auto n_modifiers = std::count_if(entries.begin(), entries.end(), [](const auto& e) { return e.modifier; });
  EXPECT_EQ(n_modifiers, 2);
  const HcpcsEntry& ad = find(entries, "AD");
  EXPECT_TRUE(ad.modifier);
  EXPECT_EQ(ad.description,
            "Medical supervision by a physician: more than four concurrent anesthesia procedures");
  EXPECT_EQ(ad.short_description, "MD supervision, 4+ anes");
  EXPECT_FALSE(find(entries, "A0021").modifier);
}

TEST(HcpcsParser, ReadsDatesAsIsoAndTheActionCode) {
  auto entries = parse_fixture("HCPC2019_MINI.txt");
  const HcpcsEntry& terminated = find(entries, "G9999");
  EXPECT_EQ(terminated.termination_date, "2018-12-31");
  EXPECT_EQ(terminated.action_code, "D");
  EXPECT_EQ(terminated.attributes["termination_date"], "2018-12-31");
  const HcpcsEntry& a0021 = find(entries, "A0021");
  EXPECT_EQ(a0021.termination_date, "");
  EXPECT_EQ(a0021.action_code, "N");
  EXPECT_EQ(a0021.attributes["added_date"], "1985-01-01");
  EXPECT_EQ(a0021.attributes["action_effective_date"], "1996-09-10");
  EXPECT_EQ(a0021.attributes["coverage_code"], "I");
  EXPECT_EQ(a0021.attributes["betos"], "O1A");
  EXPECT_EQ(a0021.attributes["anesthesia_base_units"], 0);
  EXPECT_FALSE(a0021.attributes.contains("termination_date"));
}

TEST(HcpcsParser, ReadsFieldsThatTheLayoutRepeatsAsArrays) {
  auto entries = parse_fixture("HCPC2019_MINI.txt");
  const nlohmann::json& attributes = find(entries, "Q0035").attributes;
  EXPECT_EQ(attributes["pricing_indicators"], nlohmann::json::array({"13", "21"}));
  EXPECT_EQ(attributes["types_of_service"], nlohmann::json::array({"1", "5"}));
  EXPECT_EQ(attributes["lab_certifications"], nlohmann::json::array({"220", "310"}));
  EXPECT_EQ(attributes["carriers_manual_sections"], nlohmann::json::array({"4450", "2100"}));
  EXPECT_EQ(attributes["coverage_issues_manual_sections"], nlohmann::json::array({"50-1"}));
  EXPECT_EQ(attributes["cross_references"], nlohmann::json::array({"93799"}));
  EXPECT_EQ(attributes["statute"], "1861S2B");
  EXPECT_EQ(attributes["multiple_pricing_indicator"], "C");
}

TEST(HcpcsParser, RejectsAContinuationWithoutItsFirstRecordNamingTheLine) {
  std::string message =
      parse_error(util::read_file(fixture("hcpcs/HCPC2019_ORPHAN.txt")), "HCPC2019_ORPHAN.txt");
  EXPECT_NE(message.find("HCPC2019_ORPHAN.txt:5: continuation of A0080 without its first record"),
            std::string::npos)
      << message;
}

TEST(HcpcsParser, RejectsARecordShorterThanTheLayout) {
  std::string message =
      parse_error(util::read_file(fixture("hcpcs/HCPC2019_SHORT.txt")), "HCPC2019_SHORT.txt");
  EXPECT_NE(message.find("HCPC2019_SHORT.txt:5: record is 150 columns long, the layout needs 293"),
            std::string::npos)
      << message;
}

TEST(HcpcsParser, RejectsAnUnknownRecordIdentificationCodeNamingTheLine) {
  std::string message = parse_error(with_column(mini_text(), "J7999", 11, "5"));
  EXPECT_NE(message.find("annual.txt:7: unknown record identification code '5' in column 11"),
            std::string::npos)
      << message;
}

TEST(HcpcsParser, RejectsALineThatIsNotARecordAfterTheFirstRecord) {
  std::string text = mini_text();
  text.insert(text.find("\nJ7999") + 1, "a stray line\r\n");
  EXPECT_NE(parse_error(text).find("annual.txt:7: not an annual-file record"), std::string::npos);
}

TEST(HcpcsParser, RejectsAMalformedCodeAndUnderStrictAMalformedDate) {
  EXPECT_NE(
      parse_error(with_column(mini_text(), "J7999", 1, "J79X9")).find("annual.txt:7: 'J79X9' in columns 1-5"),
      std::string::npos);
  std::string message =
      parse_error(with_column(mini_text(), "J7999", 269, "2016-1-1"), "annual.txt", {.strict = true});
  EXPECT_NE(message.find("annual.txt:7: added_date '2016-1-1' in columns 269-276 is not a YYYYMMDD date"),
            std::string::npos)
      << message;
}

TEST(HcpcsParser, KeepsADateShiftedTwoColumnsLeftEmptyWithOneWarningPerRecordNamingLineCodeAndColumns) {
  std::string text = util::read_file(fixture("hcpcs/HCPC2019_SHIFTED_DATES.txt"));
  HcpcsAnnualFile file = parse_hcpcs_annual_file(text, "HCPC2019_SHIFTED_DATES.txt");
  ASSERT_EQ(file.entries.size(), 8u);
  EXPECT_EQ(file.n_fields_dropped, 5);
  EXPECT_EQ(file.n_records_too_long, 0);
  ASSERT_EQ(file.warnings.size(), 5u);
  EXPECT_EQ(
      file.warnings[0],
      "HCPC2019_SHIFTED_DATES.txt:5: C9488: asc_payment_group_effective_date '170401' in columns 233-240 "
      "is not a YYYYMMDD date; kept empty");
  EXPECT_EQ(file.warnings[4].substr(0, 37), "HCPC2019_SHIFTED_DATES.txt:11: C9748:");
  const HcpcsEntry& c9746 = find(file.entries, "C9746");
  EXPECT_FALSE(c9746.attributes.contains("asc_payment_group_effective_date"));
  EXPECT_EQ(c9746.attributes["added_date"], "2017-07-01");
  EXPECT_EQ(c9746.description,
            "Test implantation of an adjustable device, including imaging guidance when performed");
  EXPECT_EQ(find(file.entries, "C9748").termination_date, "2018-12-31");
  EXPECT_EQ(find(file.entries, "J0100").attributes["asc_payment_group_effective_date"], "2017-04-01");
}

TEST(HcpcsParser, UnderStrictAShiftedDateIsAnErrorNamingFileLineAndColumns) {
  std::string message = parse_error(util::read_file(fixture("hcpcs/HCPC2019_SHIFTED_DATES.txt")),
                                    "HCPC2019_SHIFTED_DATES.txt", {.strict = true});
  EXPECT_NE(message.find("HCPC2019_SHIFTED_DATES.txt:5: asc_payment_group_effective_date '170401' in columns "
                         "233-240 is not a YYYYMMDD date"),
            std::string::npos)
      << message;
}

TEST(HcpcsParser, KeepsANumberThatDoesNotParseAndADateWithMonth13Empty) {
  std::string text = with_column(with_column(mini_text(), "J7999", 266, " 1A"), "J7999", 269, "20161301");
  HcpcsAnnualFile file = parse_hcpcs_annual_file(text, "annual.txt");
  ASSERT_EQ(file.warnings.size(), 2u);
  EXPECT_EQ(file.warnings[0],
            "annual.txt:7: J7999: anesthesia_base_units '1A' in columns 266-268 is not a number; kept empty");
  EXPECT_EQ(
      file.warnings[1],
      "annual.txt:7: J7999: added_date '20161301' in columns 269-276 is not a YYYYMMDD date; kept empty");
  const nlohmann::json& attributes = find(file.entries, "J7999").attributes;
  EXPECT_FALSE(attributes.contains("anesthesia_base_units"));
  EXPECT_FALSE(attributes.contains("added_date"));
  EXPECT_EQ(attributes["action_effective_date"], "2016-01-01");
}

TEST(HcpcsParser, WarnsAboutARecordLongerThanTheLayoutAndUnderStrictRejectsIt) {
  std::string text = mini_text();
  text.insert(text.find("\nJ7999") + 1 + 320, std::string(10, ' '));
  HcpcsAnnualFile file = parse_hcpcs_annual_file(text, "annual.txt");
  ASSERT_EQ(file.warnings.size(), 1u);
  EXPECT_EQ(
      file.warnings[0],
      "annual.txt:7: J7999: record is 330 columns long, the layout has 320; read by the layout's columns");
  EXPECT_EQ(file.n_records_too_long, 1);
  EXPECT_EQ(find(file.entries, "J7999").attributes["betos"], "O1E");
  EXPECT_NE(parse_error(text, "annual.txt", {.strict = true})
                .find("annual.txt:7: record is 330 columns long, the layout has 320"),
            std::string::npos);
}

TEST(HcpcsParser, RequiredFieldsStillFailWhenNotStrict) {
  EXPECT_NE(
      parse_error(with_column(mini_text(), "J7999", 6, "0A100")).find("annual.txt:7: not an annual-file"),
      std::string::npos);
  std::string blank_descriptions = with_column(mini_text(), "G9999", 12, std::string(108, ' '));
  EXPECT_NE(parse_error(blank_descriptions).find("annual.txt:8: code G9999 has neither a long nor a short"),
            std::string::npos);
}

TEST(HcpcsParser, RejectsACodeGivenTwice) {
  std::string message = parse_error(with_column(mini_text(), "J7999", 1, "A0021"));
  EXPECT_NE(message.find("annual.txt:7: code A0021 already began on line 4"), std::string::npos) << message;
}

TEST(HcpcsParser, RejectsTextWithNoRecords) {
  EXPECT_NE(parse_error("***Disclaimers\r\nnothing else\r\n").find("annual.txt: no HCPCS records found"),
            std::string::npos);
}

TEST(HcpcsParser, RecognisesTheRecordFileByContent) {
  EXPECT_TRUE(looks_like_hcpcs_annual_file(mini_text()));
  EXPECT_FALSE(looks_like_hcpcs_annual_file(util::read_file(fixture("icd10pcs/icd10pcs_order_2023.txt"))));
  EXPECT_FALSE(looks_like_hcpcs_annual_file("          0001--THIS PROCESSING NOTE DELETED 1/1/97.   *\r\n"));
}

TEST(HcpcsParser, ReadsTheReal2019AnnualFile) {
  std::string text = util::read_zip_member(shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip"),
                                           "HCPC2019_CONTR_ANWEB.txt");
  HcpcsAnnualFile file = parse_hcpcs_annual_file(text, "HCPC2019_CONTR_ANWEB.txt");
  EXPECT_EQ(file.warnings, std::vector<std::string>{});
  const auto& entries = file.entries;
  auto modifiers = std::count_if(entries.begin(), entries.end(), [](const auto& e) { return e.modifier; });
  EXPECT_EQ(entries.size() - static_cast<std::size_t>(modifiers), 6440u);
  EXPECT_EQ(modifiers, 360);
  EXPECT_EQ(find(entries, "A0021").description,
            "Ambulance service, outside state per mile, transport (medicaid only)");
  EXPECT_EQ(
      find(entries, "G0151").description,
      "Services performed by a qualified physical therapist in the home health or hospice setting, each 15 "
      "minutes");
  EXPECT_EQ(find(entries, "AD").description,
            "Medical supervision by a physician: more than four concurrent anesthesia procedures");
  EXPECT_EQ(find(entries, "A0021").attributes["cross_references"], nlohmann::json::array({"A0030"}));
}

}  // namespace
}  // namespace medcode::codes
