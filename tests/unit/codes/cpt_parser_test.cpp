// Tests of the CPT data-file reader: each layout recognised by content, encodings and line ends, and each
// bad row named by file and line.
#include <gtest/gtest.h>

#include <functional>

#include "medcode/codes/cpt_parser.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;
using medcode::testing::read_text;

std::string error_of(const std::function<void()>& action, ExitCode* code = nullptr) {
  try {
    action();
  } catch (const Error& error) {
    if (code) *code = error.code();
    return error.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return {};
}

CptFile parse_fixture(const std::string& name) {
  return parse_cpt_file(read_text(fixture("cpt/" + name)), name);
}

TEST(CptParser, ReadsTheLongDescriptorFileWithItsHeaderAndConceptIds) {
  CptFile file = parse_fixture("LongDescriptor.txt");
  EXPECT_EQ(file.kind, CptFileKind::long_descriptors);
  EXPECT_TRUE(file.has_header);
  ASSERT_EQ(file.rows.size(), 21u);
  EXPECT_EQ(file.rows.front().code, "00100");
  EXPECT_EQ(file.rows.front().concept_id, "1000001");
  EXPECT_EQ(file.rows.front().line, 2u) << "line 1 is the header";
  auto category_ii =
      std::find_if(file.rows.begin(), file.rows.end(), [](const auto& row) { return row.code == "0001F"; });
  ASSERT_NE(category_ii, file.rows.end());
}

TEST(CptParser, TellsEachHeaderLayoutByItsDescriptorColumn) {
  EXPECT_EQ(parse_fixture("MediumDescriptor.txt").kind, CptFileKind::medium_descriptors);
  EXPECT_EQ(parse_fixture("ShortDescriptor.txt").kind, CptFileKind::short_descriptors);
  EXPECT_EQ(parse_fixture("ConsumerDescriptor.txt").kind, CptFileKind::consumer_descriptors);
  CptFile clinician = parse_fixture("ClinicianDescriptor.txt");
  EXPECT_EQ(clinician.kind, CptFileKind::clinician_descriptors);
  ASSERT_EQ(clinician.rows.size(), 2u) << "a code may have several clinician descriptors";
  EXPECT_EQ(clinician.rows[1].clinician_descriptor_id, "2000002");
}

TEST(CptParser, DecodesWindows1252AndTakesCrlfLineEnds) {
  CptFile file = parse_fixture("ConsumerDescriptor.txt");
  auto visit =
      std::find_if(file.rows.begin(), file.rows.end(), [](const auto& row) { return row.code == "99213"; });
  ASSERT_NE(visit, file.rows.end());
  EXPECT_EQ(visit->text, "Office visit for an established patient\u2019s problem of low complexity");
  for (const auto& row : file.rows) EXPECT_EQ(row.text.find('\r'), std::string::npos) << row.code;
}

TEST(CptParser, TellsTheHeaderlessFilesApartByTheLengthOfTheirDescriptors) {
  CptFile long_file = parse_fixture("legacy/LONGULT.txt");
  EXPECT_EQ(long_file.kind, CptFileKind::long_descriptors);
  EXPECT_FALSE(long_file.has_header);
  ASSERT_EQ(long_file.rows.size(), 21u);
  EXPECT_EQ(long_file.rows[1].code, "01999") << "a space separates the code on this line";
  EXPECT_EQ(long_file.rows[1].text, "Unlisted anesthesia procedure(s)");
  EXPECT_EQ(parse_fixture("legacy/MEDU.txt").kind, CptFileKind::medium_descriptors);
  EXPECT_EQ(parse_fixture("legacy/SHORTU.txt").kind, CptFileKind::short_descriptors);
}

TEST(CptParser, ReadsModifiersWithOrWithoutAHeader) {
  CptFile file = parse_fixture("Modifiers.txt");
  EXPECT_EQ(file.kind, CptFileKind::modifiers);
  ASSERT_EQ(file.rows.size(), 5u);
  EXPECT_EQ(file.rows.back().code, "P1");
  CptFile with_header = parse_cpt_file("Modifier\tDescriptor\n26\tProfessional component\n", "mods.txt");
  EXPECT_EQ(with_header.kind, CptFileKind::modifiers);
  ASSERT_EQ(with_header.rows.size(), 1u);
  EXPECT_EQ(with_header.rows[0].text, "Professional component");
}

TEST(CptParser, DropsAByteOrderMarkAndKeepsARowRepeatedWordForWordOnce) {
  CptFile file = parse_cpt_file(
      "\xEF\xBB\xBF"
      "Concept Id\tCPT Code\tShort Descriptor\n1\t99213\tOFFICE VISIT\n1\t99213\tOFFICE VISIT\n",
      "s.txt");
  EXPECT_EQ(file.kind, CptFileKind::short_descriptors);
  EXPECT_EQ(file.rows.size(), 1u);
}

TEST(CptParser, RecognisesLayoutsByContentNotByName) {
  EXPECT_TRUE(looks_like_cpt_file("Concept Id\tCPT Code\tLong Descriptor\n1\t99213\tOffice visit\n"));
  EXPECT_TRUE(looks_like_cpt_file("\n99213\tOffice visit\n"));
  EXPECT_TRUE(looks_like_cpt_file("25\tSignificant, separately identifiable service\n"));
  EXPECT_FALSE(looks_like_cpt_file("Code,Description\n99213,Office visit\n"));
  EXPECT_FALSE(looks_like_cpt_file("A0021\tAmbulance service, outside state\n")) << "HCPCS Level II";
  EXPECT_FALSE(looks_like_cpt_file(""));
}

TEST(CptParser, BadRowsAreErrorsNamingFileAndLine) {
  ExitCode code = ExitCode::ok;
  EXPECT_EQ(error_of([] { parse_fixture("bad/malformed_code.txt"); }, &code),
            "bad/malformed_code.txt:3: '9921' is not a CPT code: CPT codes have 5 characters (modifiers 2)");
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_EQ(
      error_of([] { parse_fixture("bad/conflicting_text.txt"); }),
      "bad/conflicting_text.txt:4: CPT code 99213 given again with a different descriptor (first on line 2)");
  EXPECT_EQ(
      error_of([] { parse_fixture("bad/unrecognised.txt"); }, &code),
      "bad/unrecognised.txt:1: not a CPT data file: 'Code,Description' is neither a 'Concept Id<TAB>CPT "
      "Code<TAB>...' header nor a code or modifier followed by its descriptor");
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_EQ(error_of([] { parse_cpt_file("Concept Id\tCPT Code\tLong Descriptor\n1\t99213\n", "l.txt"); }),
            "l.txt:2: expected 3 tab-separated fields (Concept Id, CPT Code, Long Descriptor), found 2");
  EXPECT_EQ(
      error_of([] { parse_cpt_file("Concept Id\tCPT Code\tLong Descriptor\nx1\t99213\tVisit\n", "l.txt"); }),
      "l.txt:2: Concept Id 'x1' is not a number");
  EXPECT_EQ(error_of([] { parse_cpt_file("Concept Id\tCPT Code\tLong Descriptor\n1\t99213\t \n", "l.txt"); }),
            "l.txt:2: CPT code 99213 has an empty descriptor");
  EXPECT_EQ(error_of([] { parse_cpt_file("99213\tOffice visit\nJ1100\tInjection\n", "LONGULT.txt"); }),
            "LONGULT.txt:2: 'J1100' is not a CPT code: CPT codes are four digits followed by a digit or F, "
            "T, U or M");
  EXPECT_EQ(error_of([] { parse_cpt_file("25\tSignificant service\n2\tShort\n", "m.txt"); }),
            "m.txt:2: '2' is not a CPT modifier: CPT modifiers have 2 letters or digits");
  EXPECT_EQ(error_of([] { parse_cpt_file(" \n\n", "empty.txt"); }),
            "empty.txt: empty file, not a CPT data file");
}

}  // namespace
}  // namespace medcode::codes
