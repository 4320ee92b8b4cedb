// Tests of the ICD-10-PCS codes-file and order-file reader.
#include <gtest/gtest.h>

#include "medcode/codes/icd10pcs_parser.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;
using medcode::testing::shared_data;

// The message of the Error(bad_input) that parsing `text` throws.
std::string parse_error(const std::string& text, const std::string& source = "pcs.txt") {
  try {
    parse_icd10pcs_file(text, source);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return {};
}

const std::string k_good_line = "0016070 Bypass Cerebral Ventricle to Nasopharynx, Open Approach\n";

TEST(Icd10pcsParser, ReadsTheCodesFileWithEveryCodeBillable) {
  PcsFile file =
      parse_icd10pcs_file(util::read_file(fixture("icd10pcs/icd10pcs_codes_2023.txt")), "codes.txt");
  EXPECT_EQ(file.kind, PcsFileKind::codes);
  ASSERT_EQ(file.entries.size(), 6u);
  EXPECT_EQ(file.entries[3].code, "BW00ZZZ");
  EXPECT_EQ(file.entries[3].description, "Plain Radiography of Abdomen");
  EXPECT_EQ(file.entries[3].line, 4u);
  for (const auto& entry : file.entries) EXPECT_TRUE(entry.billable) << entry.code;
}

TEST(Icd10pcsParser, ReadsTheOrderFileWithHeadersAsNotBillableAndKeepsShortDescriptions) {
  PcsFile file =
      parse_icd10pcs_file(util::read_file(fixture("icd10pcs/icd10pcs_order_2023.txt")), "order.txt");
  EXPECT_EQ(file.kind, PcsFileKind::order);
  ASSERT_EQ(file.entries.size(), 5u);
  EXPECT_EQ(file.entries[0].code, "001");
  EXPECT_FALSE(file.entries[0].billable);
  EXPECT_EQ(file.entries[3].code, "BW0");
  EXPECT_FALSE(file.entries[3].billable);
  EXPECT_TRUE(file.entries[1].billable);
  EXPECT_EQ(file.entries[1].short_description, "Bypass Cereb Vent to Nasophar w Autol Sub, Open Approach");
  EXPECT_EQ(file.entries[1].description,
            "Bypass Cerebral Ventricle to Nasopharynx with Autologous Tissue Substitute, Open Approach");
}

TEST(Icd10pcsParser, StoresCodesInUpperCase) {
  PcsFile file = parse_icd10pcs_file("bw00zzz Plain Radiography of Abdomen\n", "codes.txt");
  EXPECT_EQ(file.entries[0].code, "BW00ZZZ");
}

TEST(Icd10pcsParser, CutsOrderFileFieldsByColumnBeforeDecodingWindows1252) {
  std::string line = "00002 0016070 1 Bypass caf\xE9";
  line += std::string(60 - 11, ' ') + " Long title with caf\xE9\r\n";
  PcsFile file = parse_icd10pcs_file(line, "order.txt");
  EXPECT_EQ(file.entries[0].short_description, "Bypass caf\u00e9");
  EXPECT_EQ(file.entries[0].description, "Long title with caf\u00e9");
}

TEST(Icd10pcsParser, RejectsACodeWithTheLetterONamingTheLine) {
  std::string message =
      parse_error(util::read_file(fixture("icd10pcs/icd10pcs_codes_bad_2023.txt")), "codes.txt");
  EXPECT_NE(message.find("codes.txt:3: '0016O72 Bad code wit' is not an ICD-10-PCS codes-file line"),
            std::string::npos)
      << message;
}

TEST(Icd10pcsParser, RejectsACodeOfTheWrongLengthAndAMissingDescription) {
  EXPECT_NE(parse_error(k_good_line + "001607 Too short\n").find("pcs.txt:2: '001607 Too short'"),
            std::string::npos);
  EXPECT_NE(parse_error(k_good_line + "0016071\n").find("pcs.txt:2: code 0016071 has no description"),
            std::string::npos);
  EXPECT_NE(parse_error(k_good_line + "0016071    \n").find("pcs.txt:2: code 0016071 has no description"),
            std::string::npos);
}

TEST(Icd10pcsParser, RejectsAnOrderLineOutOfLayoutAndAValidCodeShorterThanSeven) {
  std::string order = util::read_file(fixture("icd10pcs/icd10pcs_order_2023.txt"));
  EXPECT_NE(parse_error(order + "00006 0016072 X Flag out of range\n")
                .find("pcs.txt:6: not an ICD-10-PCS order-file"),
            std::string::npos);
  EXPECT_NE(parse_error(order + "00006 00160   1 Short valid code\n")
                .find("pcs.txt:6: valid code 00160 must have 7"),
            std::string::npos);
}

TEST(Icd10pcsParser, RejectsAnOrderLineCutBeforeTheLongDescriptionNamingFileAndLine) {
  std::string order = util::read_file(fixture("icd10pcs/icd10pcs_order_2023.txt"));
  std::string message = parse_error(order + "00006 0016072 1 Bypass Cereb Vent\r\n");
  EXPECT_NE(message.find("pcs.txt:6: code 0016072 has no long description: the line ends at column 33"),
            std::string::npos)
      << message;
  std::string full_short = "00006 0016072 1 " + std::string(60, 'S') + " ";
  EXPECT_NE(parse_error(order + full_short + "\n").find("pcs.txt:6: code 0016072 has no long description"),
            std::string::npos);
  EXPECT_NE(parse_error(order + full_short + "   \n").find("pcs.txt:6: code 0016072 has no description"),
            std::string::npos);
}

TEST(Icd10pcsParser, RejectsACodeGivenTwice) {
  std::string message = parse_error(k_good_line + "\n" + k_good_line);
  EXPECT_NE(message.find("pcs.txt:3: code 0016070 is already on line 1"), std::string::npos) << message;
}

TEST(Icd10pcsParser, RejectsAnEmptyFile) {
  EXPECT_NE(parse_error("\r\n  \n").find("pcs.txt: empty file"), std::string::npos);
}

TEST(Icd10pcsParser, RecognisesBothLayoutsByContent) {
  EXPECT_TRUE(looks_like_icd10pcs_file(k_good_line));
  EXPECT_EQ(icd10pcs_file_kind(k_good_line), PcsFileKind::codes);
  std::string order = util::read_file(fixture("icd10pcs/icd10pcs_order_2023.txt"));
  EXPECT_TRUE(looks_like_icd10pcs_file(order));
  EXPECT_EQ(icd10pcs_file_kind(order), PcsFileKind::order);
  EXPECT_FALSE(looks_like_icd10pcs_file("A000 Cholera\n"));
  EXPECT_FALSE(looks_like_icd10pcs_file(util::read_file(fixture("hcpcs/HCPC2019_MINI.txt"))));
}

TEST(Icd10pcsParser, ReadsTheReal2023CodesFile) {
  std::string text = util::read_gzip(shared_data("cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz"));
  PcsFile file = parse_icd10pcs_file(text, "icd10pcs_codes_2023.txt");
  EXPECT_EQ(file.kind, PcsFileKind::codes);
  ASSERT_EQ(file.entries.size(), 78496u);
  EXPECT_EQ(file.entries[0].code, "0016070");
  EXPECT_EQ(file.entries[0].description,
            "Bypass Cerebral Ventricle to Nasopharynx with Autologous Tissue Substitute, Open Approach");
}

}  // namespace
}  // namespace medcode::codes
