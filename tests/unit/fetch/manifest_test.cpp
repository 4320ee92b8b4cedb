// The source manifest: the built-in one's content, parsing, validation messages, entry selection.
#include "medcode/fetch/manifest.h"

#include <gtest/gtest.h>

#include <fstream>

#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::fetch {
namespace {

using testing::TempDir;

constexpr const char* k_one_entry = R"(version: 1
systems:
  icd10cm:
    2023:
      - role: tabular
        url: https://example.org/files/zip/tables-2023.zip
        member: icd10cm_tabular_2023.xml
        file: icd10cm_tabular_2023.xml
        sha256: EF862D47D79C69B19D4228855B9A79299E8E004EDC14190167B1E66DAA8C5825
)";

// Runs `action` and returns the Error it throws (failing the test when it throws none).
template <typename Action>
Error error_of(Action action) {
  try {
    action();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no Error thrown";
  return Error(ExitCode::ok, "");
}

Error parse_error(const std::string& yaml) {
  return error_of([&] { parse_manifest(yaml, "test.yaml"); });
}

std::vector<std::string> roles_of(const Manifest& manifest, const std::string& system, int year) {
  std::vector<std::string> roles;
  for (const auto& entry : manifest.entries) {
    if (entry.system == system && entry.year == year) roles.push_back(entry.role);
  }
  return roles;
}

TEST(BuiltinManifest, ListsEachSystemWithItsReleaseYears) {
  const Manifest& manifest = builtin_manifest();
  EXPECT_EQ(manifest.systems(), (std::vector<std::string>{"icd10cm", "icd10pcs", "hcpcs"}));
  EXPECT_EQ(manifest.years("icd10cm"), (std::vector<int>{2023, 2024, 2025, 2026}));
  EXPECT_EQ(manifest.years("icd10pcs"), (std::vector<int>{2023, 2024, 2025, 2026}));
  EXPECT_EQ(manifest.years("hcpcs"), (std::vector<int>{2019, 2026}));
  for (int year : manifest.years("icd10cm")) {
    EXPECT_EQ(roles_of(manifest, "icd10cm", year), (std::vector<std::string>{"tabular", "index", "order"}))
        << year;
  }
  for (int year : manifest.years("icd10pcs")) {
    EXPECT_EQ(roles_of(manifest, "icd10pcs", year), (std::vector<std::string>{"codes", "order", "index"}))
        << year;
  }
  EXPECT_EQ(roles_of(manifest, "hcpcs", 2026), (std::vector<std::string>{"annual"}));
}

TEST(BuiltinManifest, PinsTheContentOfTheFilesVerifiedFromOfficialCopies) {
  const Manifest& manifest = builtin_manifest();
  EXPECT_EQ(manifest.find("icd10cm", 2023, "tabular")->sha256,
            "ef862d47d79c69b19d4228855b9a79299e8e004edc14190167b1e66daa8c5825");
  EXPECT_EQ(manifest.find("icd10cm", 2023, "index")->sha256,
            "caab6cb0915550a91330ad782f569988f71b77a5a3273144a03cac52bd6fd771");
  EXPECT_EQ(manifest.find("icd10pcs", 2023, "codes")->sha256,
            "b1f4f62ec34305a5eb4d596850abbae1501b2e85d8641ae364a5f6ac87c6a739");
  EXPECT_EQ(manifest.find("icd10pcs", 2023, "index")->sha256,
            "5554cd55682aeedeac37076c4f6ba7dce8f2a221809ee3f5f8c36f8cbaf56ca0");
  EXPECT_EQ(manifest.find("hcpcs", 2019, "annual")->sha256,
            "c8e38e89b9b4d47dd81bea6924b8e9005f3494a89234fe28b534a7c17c3c6f12");
  EXPECT_EQ(manifest.find("hcpcs", 2019, "annual")->member, "HCPC2019_CONTR_ANWEB.txt");
  EXPECT_FALSE(manifest.find("icd10cm", 2026, "tabular")->sha256.has_value());
}

TEST(BuiltinManifest, NamesEveryFileOverHttpsWithAnArchiveNameForTheCache) {
  for (const auto& entry : builtin_manifest().entries) {
    EXPECT_EQ(entry.url.rfind("https://www.cms.gov/", 0), 0u) << entry.label();
    EXPECT_EQ(entry.archive.find('/'), std::string::npos) << entry.label();
    EXPECT_TRUE(entry.is_archive()) << entry.label();
  }
  EXPECT_EQ(builtin_manifest().find("icd10pcs", 2024, "codes")->archive,
            "2024-icd-10-pcs-codes-file-updated-12-19-2023.zip");
}

TEST(ManifestParser, ReadsAnEntryAndTakesTheArchiveNameFromTheUrl) {
  Manifest manifest = parse_manifest(k_one_entry, "test.yaml");
  ASSERT_EQ(manifest.entries.size(), 1u);
  const ManifestEntry& entry = manifest.entries[0];
  EXPECT_EQ(entry.label(), "icd10cm 2023 tabular");
  EXPECT_EQ(entry.archive, "tables-2023.zip");
  EXPECT_EQ(entry.member, "icd10cm_tabular_2023.xml");
  EXPECT_EQ(entry.sha256, "ef862d47d79c69b19d4228855b9a79299e8e004edc14190167b1e66daa8c5825");
  EXPECT_FALSE(entry.optional);
  EXPECT_EQ(manifest.source, "test.yaml");
}

TEST(ManifestParser, AcceptsNullForAnUnknownChecksumAndAPlainFileWithoutMember) {
  Manifest manifest = parse_manifest(R"(systems:
  hcpcs:
    2026:
      - {role: annual, url: "https://example.org/a/b/HCPC.txt?download=1", file: HCPC.txt, sha256: null,
         optional: true}
)",
                                     "test.yaml");
  const ManifestEntry& entry = manifest.entries.at(0);
  EXPECT_FALSE(entry.sha256.has_value());
  EXPECT_EQ(entry.archive, "HCPC.txt");
  EXPECT_FALSE(entry.is_archive());
  EXPECT_TRUE(entry.optional);
}

TEST(ManifestParser, RejectsAMissingUrlNamingTheFileAndTheKey) {
  Error error = parse_error(R"(systems:
  icd10cm:
    2023:
      - {role: tabular, file: a.xml, sha256: null}
)");
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find("test.yaml"), std::string::npos) << error.what();
  EXPECT_NE(std::string(error.what()).find("systems.icd10cm.2023[0].url: missing"), std::string::npos)
      << error.what();
}

TEST(ManifestParser, RejectsAChecksumThatIsNotSixtyFourHexDigitsWithItsLine) {
  std::string yaml = k_one_entry;
  yaml.replace(yaml.find("EF862D47"), 8, "XYZ");
  Error error = parse_error(yaml);
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find("line 9: systems.icd10cm.2023[0].sha256"), std::string::npos)
      << error.what();
}

TEST(ManifestParser, RejectsYamlSyntaxErrorsWithTheLine) {
  Error error = parse_error("systems:\n  icd10cm: [unclosed\n");
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find("manifest test.yaml: line"), std::string::npos) << error.what();
}

TEST(ManifestParser, RejectsAZipArchiveWithoutAMember) {
  std::string yaml = k_one_entry;
  yaml.erase(yaml.find("        member:"), std::string("        member: icd10cm_tabular_2023.xml\n").size());
  Error error = parse_error(yaml);
  EXPECT_NE(std::string(error.what()).find("[0].member: missing"), std::string::npos) << error.what();
}

TEST(ManifestParser, RejectsTheSameRoleTwiceInAYear) {
  std::string yaml = k_one_entry;
  std::string entry = yaml.substr(yaml.find("      - role"));
  Error error = parse_error(yaml + entry);
  EXPECT_NE(std::string(error.what()).find("[1].role: role 'tabular' appears twice"), std::string::npos)
      << error.what();
}

TEST(ManifestParser, RejectsAMisspelledKey) {
  std::string yaml = k_one_entry;
  yaml.replace(yaml.find("sha256:"), 7, "sha265:");
  Error error = parse_error(yaml);
  EXPECT_NE(std::string(error.what()).find("[0].sha265: unknown key"), std::string::npos) << error.what();
}

TEST(ManifestParser, RejectsAYearThatIsNotANumber) {
  std::string yaml = k_one_entry;
  yaml.replace(yaml.find("2023:"), 5, "FY23:");
  Error error = parse_error(yaml);
  EXPECT_NE(std::string(error.what()).find("systems.icd10cm.FY23: 'FY23' is not a year"), std::string::npos)
      << error.what();
}

TEST(ManifestParser, RejectsAnUrlThatIsNotHttp) {
  std::string yaml = k_one_entry;
  yaml.replace(yaml.find("https://"), 8, "ftp://");
  Error error = parse_error(yaml);
  EXPECT_NE(std::string(error.what()).find("[0].url: expected an http:// or https:// URL"), std::string::npos)
      << error.what();
}

TEST(ManifestLoader, ReadsAFileAndNamesItInErrors) {
  TempDir dir;
  std::ofstream(dir / "m.yaml") << "systems: {}\n";
  Error error = error_of([&] { load_manifest(dir / "m.yaml"); });
  EXPECT_EQ(error.code(), ExitCode::bad_input);
  EXPECT_NE(std::string(error.what()).find((dir / "m.yaml").string()), std::string::npos) << error.what();
  EXPECT_EQ(error_of([&] { load_manifest(dir / "absent.yaml"); }).code(), ExitCode::usage);
}

TEST(MemberPattern, MatchesTheFileNameInsideAFolderAndWildcards) {
  EXPECT_TRUE(member_matches("icd10cm_tabular_2024.xml", "Table and Index/icd10cm_tabular_2024.xml"));
  EXPECT_TRUE(member_matches("icd10cm_tabular_2024.xml", "icd10cm_tabular_2024.xml"));
  EXPECT_FALSE(member_matches("icd10cm_tabular_2024.xml", "icd10cm_index_2024.xml"));
  EXPECT_TRUE(member_matches("HCPC2026_JAN_ANWEB_*.txt", "HCPC2026_JAN_ANWEB_12082025.txt"));
  EXPECT_FALSE(member_matches("HCPC2026_JAN_ANWEB_*.txt", "HCPC2026_JAN_ANWEB_12082025.xlsx"));
}

TEST(EntrySelection, TakesTheNewestYearOfEachSystemByDefault) {
  auto entries = select_entries(builtin_manifest(), {}, {});
  std::vector<std::string> labels;
  for (const auto* entry : entries) labels.push_back(entry->label());
  EXPECT_EQ(labels,
            (std::vector<std::string>{"icd10cm 2026 tabular", "icd10cm 2026 index", "icd10cm 2026 order",
                                      "icd10pcs 2026 codes", "icd10pcs 2026 order", "icd10pcs 2026 index",
                                      "hcpcs 2026 annual"}));
}

TEST(EntrySelection, WithAYearAndNoSystemTakesTheSystemsThatHaveIt) {
  auto entries = select_entries(builtin_manifest(), {}, {2019});
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]->label(), "hcpcs 2019 annual");
  EXPECT_EQ(select_entries(builtin_manifest(), {"hcpcs"}, {}, YearDefault::all).size(), 2u);
}

TEST(EntrySelection, AYearTheSystemLacksIsAUsageErrorListingTheChoices) {
  Error error = error_of([] { select_entries(builtin_manifest(), {"icd10cm"}, {2019}); });
  EXPECT_EQ(error.code(), ExitCode::usage);
  EXPECT_NE(std::string(error.what()).find("choose from: 2023, 2024, 2025, 2026"), std::string::npos)
      << error.what();
}

TEST(EntrySelection, AnUnknownSystemIsAUsageErrorListingTheSystems) {
  Error error = error_of([] { select_entries(builtin_manifest(), {"icd9cm"}, {}); });
  EXPECT_EQ(error.code(), ExitCode::usage);
  EXPECT_NE(std::string(error.what()).find("icd10cm, icd10pcs, hcpcs"), std::string::npos) << error.what();
}

}  // namespace
}  // namespace medcode::fetch
