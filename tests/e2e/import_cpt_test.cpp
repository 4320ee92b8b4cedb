// End-to-end tests of `medcode import cpt` on hand-written files in the AMA's layouts, the `codes` commands
// on CPT (show, validate, search, export in each format), the message when no CPT is imported, and bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::query_text;
using testing::read_text;
using testing::run_medcode;
using testing::TempDir;

std::string cpt(const std::string& name) { return fixture("cpt/" + name).string(); }

const std::vector<std::string> k_all_files = {cpt("LongDescriptor.txt"),      cpt("MediumDescriptor.txt"),
                                              cpt("ShortDescriptor.txt"),     cpt("ConsumerDescriptor.txt"),
                                              cpt("ClinicianDescriptor.txt"), cpt("Modifiers.txt")};

ProcessResult import_cpt(const fs::path& db, std::vector<std::string> args) {
  std::vector<std::string> command = {"--db", db.string(), "import", "cpt"};
  command.insert(command.end(), args.begin(), args.end());
  return run_medcode(command);
}

// What the store holds, in one string: releases and every code row.
std::string store_snapshot(const fs::path& db) {
  return query_text(
      db,
      "SELECT (SELECT group_concat(system || ' ' || year || ' ' || n_codes) FROM releases) || ' | ' ||"
      " (SELECT group_concat(code || ' ' || description || ' ' || coalesce(attributes, ''), ';')"
      " FROM codes)");
}

class ImportCpt : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessResult result = import_cpt(m_db, [] {
      std::vector<std::string> args = {"--year", "2023"};
      args.insert(args.end(), k_all_files.begin(), k_all_files.end());
      return args;
    }());
    ASSERT_EQ(result.exit_code, 0) << result.err;
    m_import_out = result.out;
  }

  ProcessResult codes(std::vector<std::string> args) {
    std::vector<std::string> command = {"--db", m_db.string(), "codes"};
    command.insert(command.end(), args.begin(), args.end());
    return run_medcode(command);
  }

  TempDir m_dir;
  fs::path m_db = m_dir / "cpt.db";
  std::string m_import_out;
};

TEST_F(ImportCpt, ImportsTheDescriptorAndModifierFilesAsOneRelease) {
  EXPECT_NE(m_import_out.find("imported CPT 2023: 21 codes, 21 billable"), std::string::npos) << m_import_out;
  EXPECT_NE(m_import_out.find("5 modifiers"), std::string::npos) << m_import_out;
  EXPECT_EQ(
      query_text(m_db, "SELECT system || ' ' || year || ' ' || n_codes || ' ' || n_billable FROM releases"),
      "cpt 2023 21 21");
  EXPECT_EQ(query_text(m_db, "SELECT count(*) FROM codes WHERE kind = 'modifier' AND billable = 0"), "5");
  EXPECT_EQ(query_text(m_db, "SELECT json_array_length(sources) FROM releases"), "6");
}

TEST_F(ImportCpt, ShowPrintsTheCodeItsSectionAndTheOtherDescriptors) {
  ProcessResult result = codes({"show", "99213"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("99213  Office or other outpatient visit for the evaluation and management of an "
                            "established patient"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("short: OFFICE O/P EST LOW 20 MIN"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("CPT 2023 · billable"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("chapter evaluation-management Evaluation and Management"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("consumer_descriptor: Office visit for an established patient\u2019s problem"),
            std::string::npos)
      << "Windows-1252 decoded: " << result.out;
  ProcessResult json =
      run_medcode({"--db", m_db.string(), "--json", "codes", "show", "0042t", "--system", "CPT"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json details = nlohmann::json::parse(json.out);
  EXPECT_EQ(details["system"], "cpt");
  EXPECT_EQ(details["code"], "0042T");
  EXPECT_EQ(details["chapter"], "category-iii");
}

TEST_F(ImportCpt, ValidateAcceptsEveryCategoryAndModifiersAndRejectsUnknownCodes) {
  ProcessResult result = codes({"validate", "99213", "0001F", "0042T", "0001U", "--system", "cpt"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  result = codes({"validate", "25", "99215", "--system", "cpt"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.out.find("25         valid"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("99215      invalid 99215     not in CPT 2023"), std::string::npos) << result.out;
}

TEST_F(ImportCpt, SearchFindsCodesByTheirDescriptors) {
  ProcessResult result = codes({"search", "knee", "arthroplasty", "--system", "cpt"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("  1  27447      billable  Arthroplasty, knee"), std::string::npos) << result.out;
}

TEST_F(ImportCpt, ExportWritesEachFormatWithTheHierarchyColumns) {
  ProcessResult plain = codes({"export", "--system", "cpt"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(std::count(plain.out.begin(), plain.out.end(), '\n'), 21);
  EXPECT_NE(plain.out.find("\n99213\tOffice or other outpatient visit"), std::string::npos) << plain.out;

  ProcessResult tsv = codes({"export", "--system", "cpt", "--format", "tsv"});
  ASSERT_EQ(tsv.exit_code, 0) << tsv.err;
  EXPECT_EQ(
      tsv.out.substr(0, tsv.out.find('\n')),
      "code\tdescription\tshort_description\tbillable\tkind\tparent\tchapter\tchapter_description\tsection\t"
      "section_description");
  EXPECT_NE(
      tsv.out.find("\n71046\tRadiologic examination, chest; 2 views\tX-RAY EXAM CHEST 2 VIEWS\t1\tcode\t\t"
                   "radiology\tRadiology\t\t\n"),
      std::string::npos)
      << tsv.out;

  ProcessResult csv = codes({"export", "--system", "cpt", "--format", "csv", "--include-modifiers"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_NE(
      csv.out.find("\r\n10060,\"Incision and drainage of abscess (eg, carbuncle, cyst, furuncle); simple or "
                   "single\",I&D ABSCESS SIMPLE/SINGLE,1,code,,surgery,Surgery,,\r\n"),
      std::string::npos)
      << csv.out;
  EXPECT_NE(csv.out.find("\r\n59,Distinct procedural service,,0,modifier,,,,,\r\n"), std::string::npos)
      << csv.out;

  fs::path file = m_dir / "out" / "cpt.jsonl";
  ProcessResult jsonl = codes({"export", "--system", "cpt", "--format", "jsonl", "--output", file.string()});
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl.err;
  EXPECT_TRUE(jsonl.out.empty()) << "written to the file, not stdout";
  std::istringstream lines(read_text(file));
  std::string line;
  int n_lines = 0;
  while (std::getline(lines, line)) {
    nlohmann::json row = nlohmann::json::parse(line);
    ++n_lines;
    if (row["code"] != "0001U") continue;
    EXPECT_EQ(row["chapter"], "pla");
    EXPECT_EQ(row["chapter_description"], "Proprietary Laboratory Analyses");
    EXPECT_EQ(row["billable"], true);
    EXPECT_TRUE(row["section"].is_null());
  }
  EXPECT_EQ(n_lines, 21);
}

TEST_F(ImportCpt, ExportRefusesAnUnknownFormatAndAFolderAsOutput) {
  EXPECT_EQ(codes({"export", "--system", "cpt", "--format", "xlsx"}).exit_code, 2);
  ProcessResult folder =
      codes({"export", "--system", "cpt", "--format", "csv", "--output", m_dir.path().string()});
  EXPECT_EQ(folder.exit_code, 2);
  EXPECT_NE(folder.err.find("is a folder"), std::string::npos) << folder.err;
}

TEST_F(ImportCpt, GenerateFacetsTakesCptAsItsSystem) {
  testing::FakeProvider fake;
  std::ofstream(m_dir / "medcode.yaml")
      << "models:\n  m:\n    provider: openai\n    model_id: fake-openai\n    base_url: "
      << fake.base_url("openai")
      << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
         "    prices_as_of: \"2026-11-01\"\n    requests_per_minute: 6000\n    timeout_seconds: 5\n";
  ProcessResult result = run_medcode(
      {"--db", m_db.string(), "generate", "--task", "facets", "--system", "cpt", "--model", "m", "--dry-run"},
      m_dir.path(), {{"FAKE_PROVIDER_KEY", "sk-test-secret-0123456789"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("nothing sent"), std::string::npos) << result.out;
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST(ImportCptBadInput, EachBadInputExitsWithItsCodeAndLeavesTheStoreUnchanged) {
  TempDir dir;
  fs::path db = dir / "s.db";
  ASSERT_EQ(import_cpt(db, {"--year", "2023", cpt("LongDescriptor.txt")}).exit_code, 0);
  std::string before = store_snapshot(db);
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"--year", "2024", cpt("LongDescriptor.txt"), cpt("bad/malformed_code.txt")},
       3,
       "malformed_code.txt:3: '9921' is not a CPT code: CPT codes have 5 characters (modifiers 2)"},
      {{"--year", "2024", cpt("bad/conflicting_text.txt")},
       3,
       "conflicting_text.txt:4: CPT code 99213 given again with a different descriptor (first on line 2)"},
      {{"--year", "2024", cpt("LongDescriptor.txt"), cpt("bad/unrecognised.txt")},
       3,
       "unrecognised.txt:1: not a CPT data file"},
      {{"--year", "2024", cpt("LongDescriptor.txt"), cpt("bad/LONGULT_conflict.txt")},
       3,
       "LONGULT_conflict.txt:1: Long Descriptor of 99213 differs from the one"},
      {{"--year", "2024", cpt("ShortDescriptor.txt"), cpt("Modifiers.txt")},
       3,
       "no Long Descriptor file among"},
      {{cpt("LongDescriptor.txt")}, 2, "pass --year"},
      {{"--year", "2024"}, 2, "CPT is licensed by the American Medical Association and never fetched"},
  };
  for (const Case& bad : cases) {
    ProcessResult result = import_cpt(db, bad.args);
    EXPECT_EQ(result.exit_code, bad.exit_code) << bad.message << ": " << result.err;
    EXPECT_NE(result.err.find(bad.message), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << "one line: " << result.err;
    EXPECT_EQ(store_snapshot(db), before) << bad.message;
  }
}

TEST(ImportCptLegacy, ReadsTheHeaderlessFilesAndTheYearFromTheirFolder) {
  TempDir dir;
  fs::path folder = dir / "CPT 2021";
  fs::create_directories(folder);
  for (const char* name : {"LONGULT.txt", "MEDU.txt", "SHORTU.txt"})
    fs::copy_file(fixture(std::string("cpt/legacy/") + name), folder / name);
  fs::path db = dir / "s.db";
  ProcessResult result = import_cpt(db, {(folder / "LONGULT.txt").string(), (folder / "MEDU.txt").string(),
                                         (folder / "SHORTU.txt").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("imported CPT 2021: 21 codes"), std::string::npos) << result.out;
  EXPECT_EQ(query_text(db,
                       "SELECT short_description || '|' || json_extract(attributes, '$.medium_descriptor')"
                       " FROM codes WHERE code = '93000'"),
            "ELECTROCARDIOGRAM COMPLETE|Electrocardiogram complete with interpretation");
}

TEST(CptNotImported, SaysCptIsLicensedAndHowToLoadIt) {
  TempDir dir;
  fs::path db = dir / "m.db";
  fs::copy_file(testing::icd10cm_2023_store(), db);
  ProcessResult validate = run_medcode({"--db", db.string(), "codes", "validate", "99213"});
  EXPECT_EQ(validate.exit_code, 3);
  EXPECT_NE(
      validate.out.find("99213 is a CPT code, and there is no CPT release in the store: CPT is licensed by "
                        "the American Medical Association and not shipped with medcode"),
      std::string::npos)
      << validate.out;
  ProcessResult show = run_medcode({"--db", db.string(), "codes", "show", "99213"});
  EXPECT_EQ(show.exit_code, 3);
  EXPECT_NE(show.err.find("99213 is a CPT code"), std::string::npos) << show.err;
  EXPECT_NE(show.err.find("`medcode import cpt LongDescriptor.txt"), std::string::npos) << show.err;
  EXPECT_EQ(std::count(show.err.begin(), show.err.end(), '\n'), 1) << show.err;
  for (std::vector<std::string> args :
       {std::vector<std::string>{"codes", "export", "--system", "cpt"},
        std::vector<std::string>{"codes", "search", "visit", "--system", "cpt"},
        std::vector<std::string>{"codes", "validate", "--system", "cpt", "99213"}}) {
    args.insert(args.begin(), {"--db", db.string()});
    ProcessResult result = run_medcode(args);
    EXPECT_EQ(result.exit_code, 3) << args[3];
    EXPECT_NE(result.err.find("CPT is licensed by the American Medical Association"), std::string::npos)
        << result.err;
  }
}

}  // namespace
}  // namespace medcode
