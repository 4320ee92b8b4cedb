// Tests of release lookup, code details (hierarchy, inherited notes, 7th characters, index terms) and export.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include "medcode/codes/catalog.h"
#include "medcode/codes/export.h"
#include "medcode/util/error.h"
#include "sample_release.h"

namespace medcode::codes {
namespace {

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override { sample::build(m_db); }

  Catalog catalog(std::optional<int> year = std::nullopt) {
    return Catalog(m_db, find_release(m_db, System::icd10cm, year));
  }

  const CodeNote* find_note(const CodeDetails& details, const std::string& kind, const std::string& owner) {
    auto it = std::find_if(details.notes.begin(), details.notes.end(),
                           [&](const auto& note) { return note.kind == kind && note.owner == owner; });
    return it == details.notes.end() ? nullptr : &*it;
  }

  store::Database m_db = store::Database::open_in_memory();
};

ExitCode exit_code_of(const std::function<void()>& action, std::string* message = nullptr) {
  try {
    action();
  } catch (const Error& error) {
    if (message) *message = error.what();
    return error.code();
  }
  return ExitCode::ok;
}

TEST_F(CatalogTest, ListsReleasesBySystemNewestYearFirst) {
  sample::build_hcpcs(m_db);
  std::vector<ReleaseInfo> releases = list_releases(m_db);
  ASSERT_EQ(releases.size(), 3u);
  EXPECT_EQ(releases[0].system, System::hcpcs);
  EXPECT_EQ(releases[1].year, 2023);
  EXPECT_EQ(releases[2].year, 2022);
  EXPECT_EQ(releases[1].n_billable, 9) << "S06.0X1A/D/S, S06.0X7A, E10.9, E11.641, E11.649, E11.65, E11.9";
  EXPECT_EQ(releases[0].n_codes, 1) << "a modifier is not counted as a code";
}

TEST_F(CatalogTest, FindReleaseTakesTheNewestYearUnlessOneIsNamed) {
  EXPECT_EQ(find_release(m_db, System::icd10cm, std::nullopt).year, 2023);
  EXPECT_EQ(find_release(m_db, System::icd10cm, 2022).year, 2022);
}

TEST_F(CatalogTest, FindReleaseOfAMissingSystemSaysWhichImportAddsIt) {
  std::string message;
  EXPECT_EQ(exit_code_of([&] { find_release(m_db, System::hcpcs, std::nullopt); }, &message),
            ExitCode::bad_input);
  EXPECT_NE(message.find("medcode import hcpcs"), std::string::npos) << message;
}

TEST_F(CatalogTest, FindReleaseOfAMissingYearListsTheImportedYears) {
  std::string message;
  EXPECT_EQ(exit_code_of([&] { find_release(m_db, System::icd10cm, 2019); }, &message), ExitCode::bad_input);
  EXPECT_NE(message.find("ICD-10-CM 2019 is not in the store (imported: 2023, 2022)"), std::string::npos)
      << message;
}

TEST_F(CatalogTest, ChooseSystemPrefersTheRequestedThenTheGuessedThenAnImportedSystemTheShapeFits) {
  std::vector<ReleaseInfo> imported = list_releases(m_db);
  EXPECT_EQ(choose_system("E11.9", System::hcpcs, imported), System::hcpcs);
  EXPECT_EQ(choose_system("e119", std::nullopt, imported), System::icd10cm);
  EXPECT_EQ(choose_system("0DTJ4ZZ", std::nullopt, imported), System::icd10pcs) << "only its shape fits";
  EXPECT_EQ(choose_system("A0100", std::nullopt, imported), System::icd10cm)
      << "no HCPCS release, and A01.00 is an ICD-10-CM shape";
  sample::build_hcpcs(m_db);
  EXPECT_EQ(choose_system("A0100", std::nullopt, list_releases(m_db)), System::hcpcs);
}

TEST_F(CatalogTest, DescribeCodeAcceptsAnyCommonForm) {
  Catalog lookup = catalog();
  for (std::string form : {"E11.9", "e119", " E11.9 ", "e11.9"}) {
    EXPECT_EQ(describe_code(lookup, form).record.code, "E11.9") << form;
  }
}

TEST_F(CatalogTest, DescribeCodeUsesTheChosenRelease) {
  Catalog older = catalog(2022);
  EXPECT_EQ(describe_code(older, "E11.9").record.description,
            "Type 2 diabetes mellitus without complications (2022)");
  EXPECT_EQ(describe_code(older, "E11.9").record.short_description,
            "Type 2 diabetes mellitus without complications");
}

TEST_F(CatalogTest, DescribeCodeBuildsTheHierarchyFromChapterToTheCode) {
  Catalog lookup = catalog();
  CodeDetails details = describe_code(lookup, "S06.0X1A");
  std::vector<std::string> keys;
  for (const auto& entry : details.hierarchy) keys.push_back(entry.kind + ":" + entry.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"chapter:19", "section:S00-S09", "code:S06", "code:S06.0",
                                            "code:S06.0X", "code:S06.0X1", "code:S06.0X1A"}));
  EXPECT_EQ(details.hierarchy[0].description,
            "Injury, poisoning and certain other consequences of external causes (S00-T88)");
  EXPECT_EQ(details.hierarchy[2].description, "Intracranial injury");
}

TEST_F(CatalogTest, DescribeExpandedCodeExplainsItsSeventhCharacter) {
  Catalog lookup = catalog();
  CodeDetails details = describe_code(lookup, "S06.0X1A");
  ASSERT_TRUE(details.seventh.own);
  EXPECT_EQ(details.seventh.own->character, "A");
  EXPECT_EQ(details.seventh.own->meaning, "initial encounter");
  EXPECT_EQ(details.seventh.extends, "S06.0X1");
  EXPECT_EQ(details.seventh.defined_at, "S06");
  EXPECT_TRUE(details.record.billable);
  EXPECT_FALSE(details.not_billable_reason);
}

TEST_F(CatalogTest, CodeThatTakesASeventhCharacterListsOnlyTheCharactersItWasExpandedWith) {
  Catalog lookup = catalog();
  CodeDetails full = describe_code(lookup, "S06.0X1");
  EXPECT_TRUE(full.seventh.required);
  ASSERT_EQ(full.seventh.applicable.size(), 3u);
  EXPECT_EQ(full.seventh.applicable[1].character, "D");
  EXPECT_EQ(full.seventh.applicable[1].meaning, "subsequent encounter");
  CodeDetails restricted = describe_code(lookup, "S06.0X7");
  ASSERT_EQ(restricted.seventh.applicable.size(), 1u) << "the S06 note excludes D and S for 6th character 7";
  EXPECT_EQ(restricted.seventh.applicable[0].character, "A");
  EXPECT_NE(restricted.not_billable_reason->find("needs a 7th character: A"), std::string::npos)
      << *restricted.not_billable_reason;
}

TEST_F(CatalogTest, HeaderUnderASeventhCharacterDefinitionListsTheDefinition) {
  Catalog lookup = catalog();
  CodeDetails details = describe_code(lookup, "S06.0");
  EXPECT_FALSE(details.seventh.required);
  EXPECT_EQ(details.seventh.defined_at, "S06");
  EXPECT_EQ(details.seventh.applicable.size(), 3u);
}

TEST_F(CatalogTest, DescribeCodeInheritsNotesFromAncestorsSectionAndChapter) {
  Catalog lookup = catalog();
  CodeDetails details = describe_code(lookup, "S06.0X1A");
  const CodeNote* category = find_note(details, "excludes1", "S06");
  ASSERT_NE(category, nullptr);
  EXPECT_EQ(category->relation, "ancestor");
  EXPECT_EQ(category->text, "head injury NOS (S09.90)");
  ASSERT_NE(find_note(details, "excludes1", "S06.0"), nullptr);
  const CodeNote* chapter = find_note(details, "excludes1", "chapter:19");
  ASSERT_NE(chapter, nullptr);
  EXPECT_EQ(chapter->relation, "chapter");
  const CodeNote* section = find_note(details, "includes", "section:S00-S09");
  ASSERT_NE(section, nullptr);
  EXPECT_EQ(section->relation, "section");
  ASSERT_NE(find_note(details, "seventh_character_note", "S06"), nullptr);
}

TEST_F(CatalogTest, InclusionTermsComeFromTheCodeOrTheCodeItExtendsOnly) {
  Catalog lookup = catalog();
  CodeDetails details = describe_code(lookup, "S06.0X1A");
  const CodeNote* own = find_note(details, "inclusion_term", "S06.0X1");
  ASSERT_NE(own, nullptr);
  EXPECT_EQ(own->relation, "extends");
  EXPECT_EQ(find_note(details, "inclusion_term", "S06.0"), nullptr) << "Commotio cerebri names S06.0 itself";
  CodeDetails header = describe_code(lookup, "S06.0");
  const CodeNote* header_own = find_note(header, "inclusion_term", "S06.0");
  ASSERT_NE(header_own, nullptr);
  EXPECT_EQ(header_own->text, "Commotio cerebri");
}

TEST_F(CatalogTest, OwnNotesComeBeforeInheritedOnes) {
  Catalog lookup = catalog();
  CodeDetails details = describe_code(lookup, "S06.0");
  ASSERT_FALSE(details.notes.empty());
  EXPECT_EQ(details.notes.front().owner, "S06.0");
  EXPECT_EQ(details.notes.front().relation, "self");
  EXPECT_EQ(details.notes.back().owner, "chapter:19");
}

TEST_F(CatalogTest, HeaderExplainsWhyItIsNotBillable) {
  Catalog lookup = catalog();
  CodeDetails details = describe_code(lookup, "E11");
  EXPECT_FALSE(details.record.billable);
  ASSERT_TRUE(details.not_billable_reason);
  EXPECT_EQ(*details.not_billable_reason,
            "category with 2 child codes; more characters needed (e.g. E11.641, E11.649, E11.65, ...)");
  EXPECT_EQ(details.n_billable_descendants, 4);
  ASSERT_EQ(details.billable_examples.size(), 4u);
  EXPECT_EQ(details.billable_examples.front().code, "E11.641");
  ASSERT_EQ(details.children.size(), 2u);
  EXPECT_EQ(details.children[0].code, "E11.6");
  EXPECT_EQ(describe_code(lookup, "E11.64").not_billable_reason->substr(0, 11), "subcategory");
}

TEST_F(CatalogTest, DescribeCodeListsIndexTermsLeadingToTheCodeItExtends) {
  Catalog lookup = catalog();
  CodeDetails details = describe_code(lookup, "S06.0X1A");
  ASSERT_EQ(details.index_terms.size(), 1u);
  EXPECT_EQ(details.index_terms[0].code, "S06.0X1");
  EXPECT_EQ(details.index_terms[0].path,
            "Concussion (brain) (cerebral) (current) > with > loss of consciousness > brief");
  CodeDetails diabetes = describe_code(lookup, "E11.9");
  EXPECT_EQ(diabetes.n_index_terms, 2);
}

TEST_F(CatalogTest, UnknownCodeIsBadInputNamingTheNearestExistingCode) {
  Catalog lookup = catalog();
  std::string message;
  EXPECT_EQ(exit_code_of([&] { describe_code(lookup, "E11.999"); }, &message), ExitCode::bad_input);
  EXPECT_EQ(message,
            "E11.999 is not in ICD-10-CM 2023; the nearest existing code is E11.9 (Type 2 diabetes mellitus "
            "without "
            "complications)");
  EXPECT_EQ(exit_code_of([&] { describe_code(lookup, "Z99.99"); }, &message), ExitCode::bad_input);
  EXPECT_EQ(message, "Z99.99 is not in ICD-10-CM 2023");
}

TEST_F(CatalogTest, MalformedCodeIsBadInputNamingTheRule) {
  Catalog lookup = catalog();
  std::string message;
  EXPECT_EQ(exit_code_of([&] { describe_code(lookup, "XYZ"); }, &message), ExitCode::bad_input);
  EXPECT_NE(message.find("'XYZ' is not a well-formed ICD-10-CM code"), std::string::npos) << message;
}

TEST_F(CatalogTest, JsonCarriesTheFullStructure) {
  Catalog lookup = catalog();
  nlohmann::json json = to_json(describe_code(lookup, "S06.0X1A"));
  EXPECT_EQ(json["code"], "S06.0X1A");
  EXPECT_EQ(json["year"], 2023);
  EXPECT_EQ(json["billable"], true);
  EXPECT_EQ(json["seventh_character"]["character"], "A");
  EXPECT_EQ(json["seventh_character"]["meaning"], "initial encounter");
  EXPECT_EQ(json["seventh_character"]["extends"], "S06.0X1");
  EXPECT_EQ(json["hierarchy"].size(), 7u);
  EXPECT_FALSE(json["notes"].empty());
  EXPECT_EQ(json["index_terms"]["count"], 1);
}

TEST_F(CatalogTest, HcpcsAttributesAreParsedFromTheirJson) {
  sample::build_hcpcs(m_db);
  Catalog lookup(m_db, find_release(m_db, System::hcpcs, std::nullopt));
  CodeDetails details = describe_code(lookup, "j1234");
  EXPECT_EQ(details.record.attributes["coverage"], "C");
  CodeDetails modifier = describe_code(lookup, "25");
  EXPECT_EQ(modifier.record.kind, "modifier");
}

class ExportTest : public CatalogTest {
 protected:
  std::string export_text(System system, const ExportOptions& options, std::int64_t* n_lines = nullptr) {
    std::ostringstream out;
    std::int64_t lines = export_codes(m_db, find_release(m_db, system, std::nullopt), options, out);
    if (n_lines) *n_lines = lines;
    return out.str();
  }
};

TEST_F(ExportTest, WritesCodeTabDescriptionLinesInCodeOrder) {
  std::int64_t n_lines = 0;
  std::string text = export_text(System::icd10cm, {}, &n_lines);
  EXPECT_EQ(n_lines, 18);
  EXPECT_EQ(text.substr(0, text.find('\n', text.find('\n') + 1) + 1),
            "E10\tType 1 diabetes mellitus\nE10.9\tType 1 diabetes mellitus without complications\n");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 18);
}

TEST_F(ExportTest, BillableOnlyLeavesHeadersOut) {
  std::int64_t n_lines = 0;
  std::string text = export_text(System::icd10cm, {true, false}, &n_lines);
  EXPECT_EQ(n_lines, 9);
  EXPECT_EQ(text.find("E11\t"), std::string::npos);
  EXPECT_NE(
      text.find("S06.0X1A\tConcussion with loss of consciousness of 30 minutes or less, initial encounter\n"),
      std::string::npos);
}

TEST_F(ExportTest, ModifiersAreLeftOutUnlessAskedForAndTabsBecomeSpaces) {
  sample::build_hcpcs(m_db);
  EXPECT_EQ(export_text(System::hcpcs, {}), "J1234\tInjection, sample drug\n");
  std::string with_modifiers = export_text(System::hcpcs, {false, true});
  EXPECT_NE(with_modifiers.find("25\tSignificant"), std::string::npos) << with_modifiers;
}

}  // namespace
}  // namespace medcode::codes
