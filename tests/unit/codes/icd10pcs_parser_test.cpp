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

TEST(Icd10pcsParser, ReadsTheOrderFileWithHeadersAsNotBillable) {
  PcsFile file = parse_icd10pcs_file(util::read_file(fixture("icd10pcs/icd10pcs_order_2023.txt")), "order.txt");
  EXPECT_EQ(file.kind, PcsFileKind::order);
  ASSERT_EQ(file.entries.size(), 3u);
  EXPECT_EQ(file.entries[0].code, "001");
  EXPECT_FALSE(file.entries[0].billable);
  EXPECT_TRUE(file.entries[1].billable);
  EXPECT_EQ(file.entries[1].short_description, "Bypass Cereb Vent to Nasophar w Autol Sub, Open Approach");
}

TEST(Icd10pcsParser, RejectsACodeWithTheLetterONamingTheLine) {
  try {
    parse_icd10pcs_file(util::read_file(fixture("icd10pcs/icd10pcs_codes_bad_2023.txt")), "codes.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("codes.txt:3:"), std::string::npos) << e.what();
  }
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
