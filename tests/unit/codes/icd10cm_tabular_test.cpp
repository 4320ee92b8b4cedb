// Tests of the ICD-10-CM tabular reader on a small fixture and on the real FY2023 file.
#include <gtest/gtest.h>

#include <algorithm>

#include "medcode/codes/icd10cm_tabular.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;
using medcode::testing::shared_data;

Tabular parse_fixture(const std::string& name) {
  std::string xml = util::read_file(fixture("icd10cm/" + name));
  return parse_icd10cm_tabular(xml, name);
}

const TabularCode* find_code(const Tabular& tabular, const std::string& code) {
  auto it = std::find_if(tabular.codes.begin(), tabular.codes.end(), [&](const auto& c) { return c.code == code; });
  return it == tabular.codes.end() ? nullptr : &*it;
}

TEST(Icd10cmTabular, ExpandsInheritedSeventhCharactersWithPlaceholderX) {
  Tabular tabular = parse_fixture("tabular_mini.xml");
  const TabularCode* expanded = find_code(tabular, "S06.0X1A");
  ASSERT_NE(expanded, nullptr);
  EXPECT_TRUE(expanded->billable);
  EXPECT_EQ(expanded->parent, "S06.0X1");
  EXPECT_EQ(expanded->seventh_char, "A");
  EXPECT_EQ(expanded->seventh_meaning, "initial encounter");
  EXPECT_EQ(expanded->description, "Concussion with loss of consciousness of 30 minutes or less, initial encounter");
  ASSERT_NE(find_code(tabular, "S06.9XXS"), nullptr) << "short codes are padded with X to six characters";
  EXPECT_TRUE(find_code(tabular, "S06.9XXS")->placeholder);
  const TabularCode* base = find_code(tabular, "S06.0X1");
  ASSERT_NE(base, nullptr);
  EXPECT_FALSE(base->billable) << "a code that takes a 7th character is not billable without it";
}

TEST(Icd10cmTabular, HonoursNotesThatRestrictSeventhCharacters) {
  Tabular tabular = parse_fixture("tabular_mini.xml");
  EXPECT_NE(find_code(tabular, "S06.0X7A"), nullptr);
  EXPECT_EQ(find_code(tabular, "S06.0X7D"), nullptr);
  EXPECT_EQ(find_code(tabular, "S06.0X7S"), nullptr);
  EXPECT_NE(find_code(tabular, "S06.0X1D"), nullptr) << "the rule only removes codes with 6th character 7 or 8";
  EXPECT_EQ(tabular.n_seventh_excluded, 2);
}

TEST(Icd10cmTabular, KeepsChaptersSectionsAndNotesWithTheirOwners) {
  Tabular tabular = parse_fixture("tabular_mini.xml");
  ASSERT_EQ(tabular.year, 2023);
  ASSERT_EQ(tabular.groups.size(), 2u);
  EXPECT_EQ(tabular.groups[0].key, "19");
  EXPECT_EQ(tabular.groups[0].first_code, "S00");
  EXPECT_EQ(tabular.groups[0].last_code, "T88");
  EXPECT_EQ(tabular.groups[1].key, "S00-S09");
  EXPECT_EQ(tabular.groups[1].parent_key, "19");
  auto has_note = [&](const std::string& owner, const std::string& kind, const std::string& text) {
    return std::any_of(tabular.notes.begin(), tabular.notes.end(), [&](const TabularNote& note) {
      return note.owner == owner && note.kind == kind && note.text == text;
    });
  };
  EXPECT_TRUE(has_note("chapter:19", "excludes2", "birth trauma (P10-P15)"));
  EXPECT_TRUE(has_note("S06", "excludes1", "head injury NOS (S09.90)"));
  EXPECT_TRUE(has_note("S06.0", "inclusion_term", "Commotio cerebri"));
  ASSERT_EQ(tabular.seventh_characters.size(), 3u);
  EXPECT_EQ(tabular.seventh_characters[0].owner, "S06");
  const TabularCode* leaf = find_code(tabular, "S09.90");
  ASSERT_NE(leaf, nullptr);
  EXPECT_TRUE(leaf->billable);
  EXPECT_EQ(leaf->section, "S00-S09");
  EXPECT_EQ(leaf->chapter, "19");
}

TEST(Icd10cmTabular, ReportsTheLineOfMalformedXml) {
  std::string xml = util::read_file(fixture("icd10cm/tabular_truncated.xml"));
  try {
    parse_icd10cm_tabular(xml, "tabular_truncated.xml");
    FAIL() << "a truncated file must not parse";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("tabular_truncated.xml:"), std::string::npos) << e.what();
  }
}

TEST(Icd10cmTabular, RejectsADiagWithoutANameNamingItsLine) {
  std::string xml =
      "<ICD10CM.tabular>\n<chapter><name>1</name><desc>x</desc>\n<section id=\"A00-A09\">\n"
      "<diag>\n<desc>no name</desc></diag></section></chapter></ICD10CM.tabular>";
  try {
    parse_icd10cm_tabular(xml, "bad.xml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("bad.xml:4:"), std::string::npos) << e.what();
  }
}

TEST(Icd10cmTabular, RealFy2023TabularYieldsThePublishedBillableCount) {
  std::string xml = util::read_gzip(shared_data("cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz"));
  Tabular tabular = parse_icd10cm_tabular(xml, "icd10cm_tabular_2023.xml");
  auto billable = std::count_if(tabular.codes.begin(), tabular.codes.end(), [](const auto& c) { return c.billable; });
  EXPECT_EQ(billable, 73639);
  EXPECT_EQ(tabular.n_seventh_excluded, 76);
  EXPECT_EQ(tabular.year, 2023);
  EXPECT_EQ(std::count_if(tabular.groups.begin(), tabular.groups.end(), [](const auto& g) { return g.kind == "chapter"; }), 22);
}

}  // namespace
}  // namespace medcode::codes
