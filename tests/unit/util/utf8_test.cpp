// Tests of strict UTF-8 checks, repair with U+FFFD, conversion of declared encodings and expansion limits.
#include "medcode/util/utf8.h"

#include <gtest/gtest.h>

#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/text.h"

namespace medcode::util {
namespace {

const std::string k_replacement = "\xEF\xBF\xBD";

TEST(Utf8, AcceptsWellFormedSequencesOnly) {
  EXPECT_EQ(first_invalid_utf8("plain ascii, then \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), std::string::npos);
  EXPECT_EQ(first_invalid_utf8("ab\xC0\x80"), 2u);          // overlong NUL
  EXPECT_EQ(first_invalid_utf8("\xE0\x80\x80"), 0u);        // overlong three-byte form
  EXPECT_EQ(first_invalid_utf8("x\xED\xA0\x80"), 1u);       // a surrogate
  EXPECT_EQ(first_invalid_utf8("\xF4\x90\x80\x80"), 0u);    // past U+10FFFF
  EXPECT_EQ(first_invalid_utf8("abc\xE2\x82"), 3u);         // cut off at the end
  EXPECT_EQ(first_invalid_utf8("\xFF\xFE"), 0u);
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));
}

TEST(Utf8, ReplacesEachMaximalIllFormedPartOnce) {
  std::string text = "a\xF0\x9F\x98" "b\xFF\xFE" "c\xC3\xA9";
  EXPECT_EQ(replace_invalid_utf8(text), 3u);
  EXPECT_EQ(text, "a" + k_replacement + "b" + k_replacement + k_replacement + "c\xC3\xA9");
  std::string valid = "ok \xC3\xA9";
  EXPECT_EQ(replace_invalid_utf8(valid), 0u);
  EXPECT_EQ(valid, "ok \xC3\xA9");
}

TEST(Utf8, RequireNamesFileLineAndByteOrRepairsWhenLossy) {
  std::string text = "line one\nline two \xFF here\n";
  try {
    require_utf8(text, "notes.csv", false);
    FAIL() << "invalid UTF-8 must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_EQ(std::string(e.what()).rfind("notes.csv: line 2, byte 18: not valid UTF-8 (0xFF 0x20)", 0), 0u)
        << e.what();
  }
  EXPECT_EQ(require_utf8(text, "notes.csv", true), 1u);
  EXPECT_EQ(text, "line one\nline two " + k_replacement + " here\n");
}

TEST(Utf8, ConvertsTheEncodingAnXmlDeclarationNames) {
  std::string xml = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<a>Sj\xF6gren</a>";
  EXPECT_EQ(decode_xml_text(xml, "a.xml", false), 0u);
  EXPECT_EQ(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>Sj\xC3\xB6gren</a>");
  std::string again = xml;
  decode_xml_text(again, "a.xml", false);  // a second pass changes nothing
  EXPECT_EQ(again, xml);
  std::string cp1252 = "<?xml version='1.0' encoding='windows-1252'?><a>\x93quoted\x94</a>";
  decode_xml_text(cp1252, "b.xml", false);
  EXPECT_EQ(cp1252, "<?xml version='1.0' encoding='UTF-8'?><a>\xE2\x80\x9Cquoted\xE2\x80\x9D</a>");
  // Declared Latin-1 but written as UTF-8: kept, not turned into mojibake.
  std::string mislabelled = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Sj\xC3\xB6gren</a>";
  decode_xml_text(mislabelled, "m.xml", false);
  EXPECT_EQ(mislabelled, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>Sj\xC3\xB6gren</a>");
  // A byte the declared encoding lacks is named by its offset in the whole file.
  std::string undefined = "<?xml version=\"1.0\" encoding=\"windows-1252\"?>\n<a>\x81</a>";
  try {
    decode_xml_text(undefined, "u.xml", false);
    FAIL() << "0x81 is not a windows-1252 character";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("u.xml: line 2, byte 49: 0x81", 0), 0u) << e.what();
  }
  std::string unknown = "<?xml version=\"1.0\" encoding=\"no-such-charset\"?><a/>";
  EXPECT_THROW(decode_xml_text(unknown, "c.xml", false), Error);
  std::string utf16("\xFF\xFE<\0a\0/\0>\0", 10);
  decode_xml_text(utf16, "d.xml", false);
  EXPECT_EQ(utf16, "<a/>");
  // UTF-16 with a declaration that says so: converted once, the declaration rewritten.
  std::string declared16 = "\xFF\xFE";
  for (char c : std::string("<?xml version=\"1.0\" encoding=\"UTF-16\"?><a>\xE9</a>")) {
    declared16 += c;
    declared16 += '\0';
  }
  decode_xml_text(declared16, "e.xml", false);
  EXPECT_EQ(declared16, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>\xC3\xA9</a>");
}

TEST(ExpansionLimits, StopPastTheRatioOrTheByteCap) {
  ExpansionLimits saved = expansion_limits();
  ExpansionLimits limits;
  limits.max_bytes = 1000;
  limits.max_ratio = 10;
  limits.ratio_floor = 100;
  set_expansion_limits(limits);
  EXPECT_NO_THROW(check_expansion("f.gz", 99, 1, true));     // under the floor, whatever the ratio
  EXPECT_NO_THROW(check_expansion("f.gz", 500, 60, true));   // 8 times
  EXPECT_THROW(check_expansion("f.gz", 500, 40, true), Error);  // 12.5 times
  EXPECT_THROW(check_expansion("f.gz", 1001, 1000, true), Error);
  EXPECT_NO_THROW(check_expansion("f.gz", 5000, 1000, false));  // streaming readers: no byte cap
  set_expansion_limits(saved);
}

}  // namespace
}  // namespace medcode::util
