// End-to-end tests of `medcode codes show|validate|search|export|releases` on the store imported from the
// real ICD-10-CM FY2023 tabular and index files.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>

#include "medcode/store/database.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::run_medcode;
using testing::TempDir;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Every test reads the one FY2023 store that the e2e tests share (imported once per build of medcode).
class CodesCommand : public ::testing::Test {
 protected:
  static std::string db() { return testing::icd10cm_2023_store().string(); }

  static ProcessResult codes(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db(), "codes"});
    return run_medcode(args);
  }
  static ProcessResult codes_json(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db(), "--json", "codes"});
    return run_medcode(args);
  }

  static std::int64_t count_runs() {
    store::Database store = store::Database::open(db(), store::OpenMode::existing_only);
    store::Statement count = store.prepare("SELECT count(*) FROM runs");
    return count.step() ? count.column_int64(0) : -1;
  }
};

TEST_F(CodesCommand, ExportBillableOnlyListsEveryBillableCodeOfTheRelease) {
  ProcessResult result = codes({"export", "--system", "icd10cm", "--year", "2023", "--billable-only"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> lines = lines_of(result.out);
  EXPECT_EQ(lines.size(), 73639u);
  EXPECT_EQ(lines.front(), "A00.0\tCholera due to Vibrio cholerae 01, biovar cholerae");
  for (const auto& line : lines) {
    ASSERT_EQ(std::count(line.begin(), line.end(), '\t'), 1) << line;
  }
  EXPECT_NE(result.out.find("\nE11.9\tType 2 diabetes mellitus without complications\n"), std::string::npos);
}

TEST_F(CodesCommand, ExportWithoutFiltersIncludesHeadersInCodeOrder) {
  ProcessResult result = codes({"export"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> lines = lines_of(result.out);
  EXPECT_GT(lines.size(), 73639u);
  EXPECT_EQ(lines.front(), "A00\tCholera");
  EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end()));
}

TEST_F(CodesCommand, ShowExplainsTheSeventhCharacterAndTheHierarchy) {
  ProcessResult result = codes({"show", "S06.0X1A"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string& out = result.out;
  EXPECT_NE(
      out.find("S06.0X1A  Concussion with loss of consciousness of 30 minutes or less, initial encounter"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("ICD-10-CM 2023 · billable"), std::string::npos) << out;
  EXPECT_NE(out.find("A: initial encounter"), std::string::npos) << out;
  EXPECT_NE(out.find("extends S06.0X1"), std::string::npos) << out;
  std::size_t chapter = out.find("chapter 19");
  std::size_t section = out.find("section S00-S09");
  std::size_t category = out.find("Intracranial injury");
  ASSERT_NE(chapter, std::string::npos) << out;
  EXPECT_LT(chapter, section);
  EXPECT_LT(section, category);
  EXPECT_NE(out.find("head injury NOS (S09.90)"), std::string::npos)
      << "the category's excludes1 is inherited";
  EXPECT_NE(out.find("from S06 Intracranial injury:"), std::string::npos)
      << "inherited notes say where they come from";
}

TEST_F(CodesCommand, ShowJsonGivesTheFullStructure) {
  ProcessResult result = codes_json({"show", "s060x1a"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["code"], "S06.0X1A");
  EXPECT_EQ(json["seventh_character"]["character"], "A");
  EXPECT_EQ(json["seventh_character"]["meaning"], "initial encounter");
  EXPECT_EQ(json["seventh_character"]["extends"], "S06.0X1");
  EXPECT_EQ(json["seventh_character"]["defined_at"], "S06");
  EXPECT_EQ(json["hierarchy"].size(), 7u);
  EXPECT_EQ(json["hierarchy"][0]["kind"], "chapter");
  EXPECT_GE(json["index_terms"]["count"], 1);
}

TEST_F(CodesCommand, JsonOutputNeverFailsOnInvalidUtf8InTheStore) {
  // A store written before text was checked at the door may hold bytes that are not UTF-8.
  testing::TempDir dir;
  std::filesystem::path copy = dir / "m.db";
  std::filesystem::copy_file(db(), copy);
  {
    store::Database store = store::Database::open(copy, store::OpenMode::existing_only);
    store.exec("UPDATE codes SET description = CAST(X'436F6C6572FFFE61' AS TEXT) WHERE code = 'A00.0'");
  }
  ProcessResult result = run_medcode({"--db", copy.string(), "--json", "codes", "show", "A00.0"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["description"], "Coler\uFFFD\uFFFDa");
}

TEST_F(CodesCommand, ShowOfAHeaderSaysWhyItIsNotBillable) {
  ProcessResult result = codes({"show", "E11"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("not billable: category with 9 child codes; more characters needed"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("E11.9      billable"), std::string::npos) << result.out;
}

TEST_F(CodesCommand, ShowOfAnUnknownCodeExitsThreeNamingTheRelease) {
  ProcessResult result = codes({"show", "Z99.999"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("Z99.999 is not in ICD-10-CM 2023; the nearest existing code is Z99"),
            std::string::npos)
      << result.err;
  EXPECT_TRUE(result.out.empty());
}

TEST_F(CodesCommand, ValidateGivesAReasonPerCodeAndExitsThreeWhenAnyIsInvalid) {
  ProcessResult result = codes({"validate", "E11.9", "e119", "E11", "Z99.999", "XYZ"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  std::vector<std::string> lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 5u) << result.out;
  EXPECT_NE(lines[0].find(" valid "), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(" valid   E11.9"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("invalid"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("not billable"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("more characters needed"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("not in ICD-10-CM 2023"), std::string::npos) << lines[3];
  EXPECT_NE(lines[4].find("bad format"), std::string::npos) << lines[4];
}

TEST_F(CodesCommand, ValidateExitsZeroWhenEveryCodeIsValid) {
  ProcessResult result = codes({"validate", "E11.9", "s06.0x1a", " I10 "});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
}

TEST_F(CodesCommand, ValidateJsonHasOneObjectPerCode) {
  ProcessResult result = codes_json({"validate", "e119", "S06.0X1", "XYZ"});
  EXPECT_EQ(result.exit_code, 3);
  nlohmann::json json = nlohmann::json::parse(result.out);
  ASSERT_EQ(json.size(), 3u);
  EXPECT_EQ(json[0]["input"], "e119");
  EXPECT_EQ(json[0]["canonical"], "E11.9");
  EXPECT_EQ(json[0]["system"], "icd10cm");
  EXPECT_EQ(json[0]["year"], 2023);
  EXPECT_EQ(json[0]["valid"], true);
  EXPECT_EQ(json[0]["billable"], true);
  EXPECT_EQ(json[0]["description"], "Type 2 diabetes mellitus without complications");
  EXPECT_EQ(json[1]["reason"], "not billable: needs a 7th character: A, D, S (e.g. S06.0X1A)");
  EXPECT_EQ(json[2]["valid"], false);
  EXPECT_TRUE(json[2]["canonical"].is_null());
}

TEST_F(CodesCommand, ValidateReadsCodesFromStdinGivenADash) {
  std::string command = "printf 'E11.9\\n\\nS06.0X1A\\nE11\\n' | '" + std::string(MEDCODE_BINARY) +
                        "' --db '" + db() + "' codes validate - 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  ASSERT_TRUE(pipe);
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe.get())) out.append(buffer, n);
  int status = ::pclose(pipe.release());
  EXPECT_EQ(WEXITSTATUS(status), 3);
  std::vector<std::string> lines = lines_of(out);
  ASSERT_EQ(lines.size(), 3u) << "blank lines are skipped:\n" << out;
  EXPECT_EQ(lines[1].substr(0, 8), "S06.0X1A");
  EXPECT_NE(lines[2].find("invalid"), std::string::npos);
}

TEST_F(CodesCommand, SearchRanksTypeTwoDiabetesCodesFirst) {
  ProcessResult result = codes_json({"search", "type 2 diabetes"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json json = nlohmann::json::parse(result.out);
  ASSERT_EQ(json.size(), 10u) << "the default limit";
  EXPECT_EQ(json[0]["rank"], 1);
  for (const auto& hit : json) EXPECT_EQ(hit["code"].get<std::string>().substr(0, 3), "E11") << hit.dump();
  ProcessResult human = codes({"search", "type", "2", "diabetes", "--limit", "1"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(lines_of(human.out).size(), 1u);
  EXPECT_NE(human.out.find("E11"), std::string::npos) << human.out;
}

TEST_F(CodesCommand, SearchBillableOnlyListsOnlyBillableCodes) {
  ProcessResult result = codes_json({"search", "concussion", "--billable-only", "--limit", "25"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json json = nlohmann::json::parse(result.out);
  ASSERT_FALSE(json.empty());
  for (const auto& hit : json) EXPECT_EQ(hit["billable"], true) << hit.dump();
}

TEST_F(CodesCommand, SearchTakesPunctuationLiterallyAndRejectsTextWithoutWords) {
  for (std::string text : {"\"type 2", "E11.9", "type-2 diabetes", "NEAR(asthma", "asthma AND OR"}) {
    ProcessResult result = codes({"search", text});
    EXPECT_EQ(result.exit_code, 0) << text << ": " << result.err;
  }
  ProcessResult empty = codes({"search", " -- \" "});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.err.find("no letter or digit"), std::string::npos) << empty.err;
}

TEST_F(CodesCommand, ReleasesListsTheImportedRelease) {
  ProcessResult result = codes({"releases"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("icd10cm   2023"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("73639"), std::string::npos) << result.out;
  nlohmann::json json = nlohmann::json::parse(codes_json({"releases"}).out);
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["billable"], 73639);
}

TEST_F(CodesCommand, AMissingReleaseOrYearNamesTheImportToRun) {
  ProcessResult system = codes({"export", "--system", "hcpcs"});
  EXPECT_EQ(system.exit_code, 3);
  EXPECT_NE(system.err.find("run `medcode import hcpcs`"), std::string::npos) << system.err;
  ProcessResult year = codes({"show", "E11.9", "--year", "2019"});
  EXPECT_EQ(year.exit_code, 3);
  EXPECT_NE(year.err.find("ICD-10-CM 2019 is not in the store (imported: 2023)"), std::string::npos)
      << year.err;
}

TEST_F(CodesCommand, LookupsRecordNoRun) {
  std::int64_t before = count_runs();
  codes({"show", "E11.9"});
  codes({"validate", "E11.9"});
  codes({"search", "asthma"});
  codes({"releases"});
  EXPECT_EQ(count_runs(), before);
}

TEST(CodesCommandWithoutStore, ExitsThreeAndCreatesNoFile) {
  TempDir dir;
  std::string db = (dir.path() / "missing.db").string();
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"show", "E11.9"}, {"validate", "E11.9"}, {"search", "asthma"}, {"export"}, {"releases"}}) {
    args.insert(args.begin(), {"--db", db, "codes"});
    ProcessResult result = run_medcode(args, dir.path());
    EXPECT_EQ(result.exit_code, 3) << args[3];
    EXPECT_NE(result.err.find("no such store"), std::string::npos) << result.err;
    EXPECT_FALSE(fs::exists(db)) << args[3];
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace medcode
