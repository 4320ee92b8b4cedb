// Tests of the ICD-10-CM Alphabetic Index reader and the order-file reader.
#include <gtest/gtest.h>

#include "medcode/codes/icd10cm_index.h"
#include "medcode/codes/icd10cm_order.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;
using medcode::testing::shared_data;

TEST(Icd10cmIndex, BuildsTermPathsWithNonessentialModifiersAndCodes) {
  std::string xml = util::read_file(fixture("icd10cm/index_mini.xml"));
  Index index = parse_icd10cm_index(xml, "index_mini.xml");
  EXPECT_EQ(index.year, 2023);
  ASSERT_EQ(index.terms.size(), 6u);
  EXPECT_EQ(index.terms[0].title, "Commotio, commotion (current)");
  EXPECT_EQ(index.terms[0].parent, -1);
  EXPECT_EQ(index.terms[1].path, "Commotio, commotion (current) > brain");
  EXPECT_EQ(index.terms[1].see, "Injury, intracranial, concussion");
  EXPECT_EQ(index.terms[2].code, "S06.0X");
  EXPECT_TRUE(index.terms[2].code_incomplete) << "a trailing '-' marks a code that needs more characters";
  EXPECT_EQ(index.terms[3].see_also, "Injury, intracranial");
  EXPECT_EQ(index.terms[3].code, "S06.0X9");
  EXPECT_FALSE(index.terms[3].code_incomplete);
  EXPECT_EQ(index.terms[5].level, 2);
  EXPECT_EQ(index.terms[5].parent, 4);
  EXPECT_EQ(index.terms[5].path, "Concussion (brain) (cerebral) (current) > with > loss of consciousness of 30 minutes or less");
}

TEST(Icd10cmIndex, RejectsAMalformedCodeNamingItsLine) {
  std::string xml = "<ICD10CM.index>\n<letter><title>A</title>\n<mainTerm><title>x</title>\n<code>11X</code>\n"
                    "</mainTerm></letter></ICD10CM.index>";
  try {
    parse_icd10cm_index(xml, "index.xml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("index.xml:4:"), std::string::npos) << e.what();
  }
}

TEST(Icd10cmIndex, ReadsTheRealFy2023IndexWithSeeAlsoAndManifestations) {
  std::string xml = util::read_gzip(shared_data("cms/icd10cm/2023/icd10cm_index_2023.xml.gz"));
  Index index = parse_icd10cm_index(xml, "icd10cm_index_2023.xml");
  EXPECT_EQ(index.terms.size(), 8060u + 72058u);
  std::size_t with_code = 0, with_manifestation = 0;
  for (const auto& term : index.terms) {
    with_code += term.code.has_value();
    with_manifestation += term.manifestation_code.has_value();
  }
  EXPECT_EQ(with_code, 61983u);
  EXPECT_EQ(with_manifestation, 759u) << "one <manif> holds the abbreviation SCFE, kept in the title";
}

TEST(Icd10cmOrderFile, ReadsBillableFlagsAndShortDescriptions) {
  OrderFile order = parse_icd10cm_order_file(util::read_file(fixture("icd10cm/order_mini.txt")), "order_mini.txt");
  EXPECT_EQ(order.kind, OrderFileKind::order);
  ASSERT_EQ(order.entries.size(), 4u);
  EXPECT_EQ(order.entries[0].code, "S06");
  EXPECT_FALSE(order.entries[0].billable);
  EXPECT_EQ(order.entries[2].code, "S06.0X1A");
  EXPECT_TRUE(order.entries[2].billable);
  EXPECT_EQ(order.entries[2].short_description, "Concussion w LOC of 30 minutes or less, init");
  EXPECT_EQ(order.entries[2].description,
            "Concussion with loss of consciousness of 30 minutes or less, initial encounter");
}

TEST(Icd10cmOrderFile, ReadsTheCodeDescriptionsLayout) {
  OrderFile file = parse_icd10cm_order_file("A000    Cholera due to Vibrio cholerae 01, biovar cholerae\n"
                                            "E119    Type 2 diabetes mellitus without complications\n", "codes.txt");
  EXPECT_EQ(file.kind, OrderFileKind::code_descriptions);
  ASSERT_EQ(file.entries.size(), 2u);
  EXPECT_EQ(file.entries[1].code, "E11.9");
  EXPECT_EQ(file.entries[1].description, "Type 2 diabetes mellitus without complications");
}

TEST(Icd10cmOrderFile, RejectsAMalformedRecordNamingItsLine) {
  std::string text = util::read_file(fixture("icd10cm/order_mini.txt")) + "garbage line\n";
  try {
    parse_icd10cm_order_file(text, "order.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("order.txt:5:"), std::string::npos) << e.what();
  }
}

TEST(Icd10cmOrderFile, RejectsALineCutBeforeTheLongDescriptionNamingFileAndLine) {
  std::string text = util::read_file(fixture("icd10cm/order_mini.txt"));
  text.insert(text.find("\n00003") + 1, "00010 C43     0 Mali\n");
  try {
    parse_icd10cm_order_file(text, "order.txt");
    FAIL() << "a line cut at column 20 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("order.txt:3: code C43 has no long description: the line ends at "
                                         "column 20, the layout starts it at column 78"),
              std::string::npos)
        << e.what();
  }
}

TEST(Icd10cmOrderFile, ReadsAShortDescriptionOfSixtyCharactersFollowedByTheLongOne) {
  std::string short_description(60, 'S');
  OrderFile file =
      parse_icd10cm_order_file("00001 A000    1 " + short_description + " Long description\r\n", "order.txt");
  ASSERT_EQ(file.entries.size(), 1u);
  EXPECT_EQ(file.entries[0].short_description, short_description);
  EXPECT_EQ(file.entries[0].description, "Long description");
}

}  // namespace
}  // namespace medcode::codes
