// Tests of the ICD-10-PCS Alphabetic Index reader.
#include <gtest/gtest.h>

#include "medcode/codes/icd10pcs_index.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;
using medcode::testing::shared_data;

Index parse_fixture() {
  std::string xml = util::read_file(fixture("icd10pcs/index_mini.xml"));
  return parse_icd10pcs_index(xml, "index_mini.xml");
}

// The message of the Error(bad_input) that parsing `xml` throws.
std::string parse_error(std::string xml) {
  try {
    parse_icd10pcs_index(xml, "index.xml");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return {};
}

TEST(Icd10pcsIndex, ReadsEveryMainTermAndTermDepthFirst) {
  Index index = parse_fixture();
  EXPECT_EQ(index.year, 2023);
  EXPECT_EQ(index.title, "2023 ICD-10-PCS Index");
  ASSERT_EQ(index.terms.size(), 16u);
  EXPECT_EQ(index.terms[0].title, "Abdominal cavity");
  EXPECT_EQ(index.terms[15].title, "Pancreatic artery");
}

TEST(Icd10pcsIndex, TakesAFullCodeInUpperCaseAsComplete) {
  Index index = parse_fixture();
  const IndexTerm& abdomen = index.terms[10];
  EXPECT_EQ(abdomen.path, "Plain Radiography > Abdomen");
  EXPECT_EQ(abdomen.level, 1);
  EXPECT_EQ(abdomen.parent, 9);
  EXPECT_EQ(abdomen.code, "BW00ZZZ");
  EXPECT_FALSE(abdomen.code_incomplete);
  EXPECT_FALSE(abdomen.see.has_value());
}

TEST(Icd10pcsIndex, TakesCodesAndTabAsIncompleteCodes) {
  Index index = parse_fixture();
  EXPECT_EQ(index.terms[14].path, "Plain Radiography > Ankle");
  EXPECT_EQ(index.terms[14].code, "BQ0");
  EXPECT_TRUE(index.terms[14].code_incomplete);
  EXPECT_EQ(index.terms[7].code, "F02") << "a <tab> straight under the term";
  EXPECT_TRUE(index.terms[7].code_incomplete);
}

TEST(Icd10pcsIndex, SplitsASeeIntoItsTextAndTheCodesInsideIt) {
  Index index = parse_fixture();
  const IndexTerm& term = index.terms[1];
  EXPECT_EQ(term.path, "Abdominohysterectomy");
  EXPECT_EQ(term.see, "Resection, Uterus");
  EXPECT_EQ(term.code, "0UT9");
  EXPECT_TRUE(term.code_incomplete);
  EXPECT_EQ(index.terms[15].see, "Splenic Artery");
  EXPECT_FALSE(index.terms[15].code.has_value()) << "a see that names no codes";
}

TEST(Icd10pcsIndex, PutsAUseReferenceInSeeWithTheTableInsideIt) {
  Index index = parse_fixture();
  EXPECT_EQ(index.terms[0].see, "Peritoneal Cavity");
  EXPECT_FALSE(index.terms[0].code.has_value());
  EXPECT_EQ(index.terms[8].see, "Stimulator Generator, Multiple Array in");
  EXPECT_EQ(index.terms[8].code, "0JH");
  EXPECT_TRUE(index.terms[8].code_incomplete);
}

TEST(Icd10pcsIndex, KeepsUntitledTermsWithTheirParentsPath) {
  Index index = parse_fixture();
  const IndexTerm& right = index.terms[3];
  EXPECT_EQ(right.title, "");
  EXPECT_EQ(right.path, "Abductor hallucis muscle");
  EXPECT_EQ(right.level, 1);
  EXPECT_EQ(right.parent, 2);
  EXPECT_EQ(right.see, "Foot Muscle, Right");
  EXPECT_EQ(index.terms[4].see, "Foot Muscle, Left");
  EXPECT_EQ(index.terms[6].path, "Acetabulectomy");
  EXPECT_EQ(index.terms[6].see, "Excision, Lower Bones");
  EXPECT_EQ(index.terms[6].code, "0QB");
}

TEST(Icd10pcsIndex, NestsTermsUnderTheirParents) {
  Index index = parse_fixture();
  const IndexTerm& left = index.terms[12];
  EXPECT_EQ(left.path, "Plain Radiography > Femur > Left");
  EXPECT_EQ(left.level, 2);
  EXPECT_EQ(left.parent, 11);
  EXPECT_EQ(left.code, "BQ04ZZ1");
  const IndexTerm& untitled = index.terms[13];
  EXPECT_EQ(untitled.path, "Plain Radiography > Femur");
  EXPECT_EQ(untitled.level, 2);
  EXPECT_EQ(untitled.parent, 11);
  EXPECT_EQ(untitled.code, "BQ03ZZ1");
}

TEST(Icd10pcsIndex, RejectsACodeOfTheWrongShapeNamingItsLine) {
  std::string message = parse_error(
      "<ICD10PCS.index>\n<letter><title>A</title>\n<mainTerm><title>x</title>\n<code>0UT9</code>\n"
      "</mainTerm></letter></ICD10PCS.index>");
  EXPECT_NE(message.find("index.xml:4:"), std::string::npos) << message;
  EXPECT_NE(message.find("'0UT9'"), std::string::npos) << message;
  message = parse_error(
      "<ICD10PCS.index>\n<letter><title>A</title>\n<mainTerm><title>x</title>\n<codes>0I-9</codes>\n"
      "</mainTerm></letter></ICD10PCS.index>");
  EXPECT_NE(message.find("index.xml:4:"), std::string::npos) << message;
}

TEST(Icd10pcsIndex, RejectsTruncatedXmlNamingTheFileAndLine) {
  std::string xml = util::read_file(fixture("icd10pcs/index_mini.xml"));
  std::string message = parse_error(xml.substr(0, xml.find("<title>Femur")));
  EXPECT_NE(message.find("index.xml:"), std::string::npos) << message;
  EXPECT_NE(message.find("malformed XML"), std::string::npos) << message;
}

TEST(Icd10pcsIndex, RejectsAMainTermWithoutATitleAndAnEmptyIndex) {
  EXPECT_NE(parse_error("<ICD10PCS.index>\n<letter><title>A</title>\n<mainTerm><use>x</use></mainTerm>"
                        "</letter></ICD10PCS.index>")
                .find("index.xml:3: main term without a title"),
            std::string::npos);
  EXPECT_NE(parse_error("<ICD10PCS.index><version>2023</version></ICD10PCS.index>").find("no index terms"),
            std::string::npos);
  EXPECT_NE(parse_error("<ICD10CM.index></ICD10CM.index>").find("not an ICD-10-PCS index file"),
            std::string::npos);
}

TEST(Icd10pcsIndex, ReadsTheReal2023Index) {
  std::string xml = util::read_gzip(shared_data("cms/icd10pcs/2023/icd10pcs_index_2023.xml.gz"));
  Index index = parse_icd10pcs_index(xml, "icd10pcs_index_2023.xml");
  EXPECT_EQ(index.year, 2023);
  EXPECT_EQ(index.terms.size(), 3017u + 21154u);
  std::size_t main_terms = 0, with_code = 0, complete = 0, with_see = 0, untitled = 0;
  for (const auto& term : index.terms) {
    main_terms += term.parent < 0;
    with_code += term.code.has_value();
    complete += term.code && !term.code_incomplete;
    with_see += term.see.has_value();
    untitled += term.title.empty();
  }
  EXPECT_EQ(main_terms, 3017u);
  EXPECT_EQ(complete, 2770u) << "every <code>";
  EXPECT_EQ(with_code, 2770u + 12082u + 1345u) << "every <code>, <codes> and <tab>, one per term";
  EXPECT_EQ(with_see, 1752u + 2228u) << "every <see> and <use>";
  EXPECT_EQ(untitled, 21154u + 3017u - (21958u - 28u));
}

}  // namespace
}  // namespace medcode::codes
