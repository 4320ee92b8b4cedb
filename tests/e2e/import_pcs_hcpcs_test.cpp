// End-to-end tests of `medcode import icd10pcs` and `medcode import hcpcs` on the real files and bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "medcode/store/database.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::query_text;
using testing::run_medcode;
using testing::shared_data;
using testing::TempDir;

const std::string k_pcs_2023 = "cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz";
const std::string k_pcs_index_2023 = "cms/icd10pcs/2023/icd10pcs_index_2023.xml.gz";
const std::string k_hcpcs_2019 = "cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip";

// What an import wrote, in one string: the releases and an aggregate of every code row.
std::string store_snapshot(const fs::path& db) {
  return query_text(
      db,
      "SELECT (SELECT group_concat(id || ' ' || system || ' ' || year || ' ' || imported_at || ' ' ||"
      " n_codes || ' ' || n_billable) FROM releases) || ' | ' || count(*) || ' ' || sum(billable) ||"
      " ' ' || sum(length(description)) || ' ' || sum(length(coalesce(attributes, ''))) FROM codes");
}

testing::ProcessResult import(const fs::path& db, const std::string& system, std::vector<std::string> args) {
  std::vector<std::string> command = {"--db", db.string(), "import", system};
  command.insert(command.end(), args.begin(), args.end());
  return run_medcode(command);
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

TEST(ImportIcd10pcs, ImportsTheReal2023CodesFile) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result = import(db, "icd10pcs", {shared_data(k_pcs_2023).string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("imported ICD-10-PCS 2023: 78496 codes, 78496 billable"), std::string::npos)
      << result.out;
  EXPECT_EQ(
      query_text(
          db, "SELECT year || ' ' || n_codes || ' ' || n_billable FROM releases WHERE system = 'icd10pcs'"),
      "2023 78496 78496");
  EXPECT_EQ(query_text(db, "SELECT count(*) FROM codes"), "78496");
  EXPECT_EQ(
      query_text(db,
                 "SELECT parent || ' ' || chapter || ' ' || description FROM codes WHERE code = '0016070'"),
      "001 0 Bypass Cerebral Ventricle to Nasopharynx with Autologous Tissue Substitute, Open Approach");
}

TEST(ImportIcd10pcs, ReimportReplacesTheReleaseWithTheSameCounts) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import(db, "icd10pcs", {shared_data(k_pcs_2023).string()}).exit_code, 0);
  auto result = import(db, "icd10pcs", {shared_data(k_pcs_2023).string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(query_text(db, "SELECT count(*) || ' ' || sum(n_codes) FROM releases"), "1 78496");
  EXPECT_EQ(query_text(db, "SELECT count(*) FROM codes"), "78496");
}

TEST(ImportIcd10pcs, ReadsTheOrderFileOutOfAZipWithHeadersNotBillable) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result = import(db, "icd10pcs", {fixture("icd10pcs/2023-icd-10-pcs-order-file-mini.zip").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(query_text(db, "SELECT year || ' ' || n_codes || ' ' || n_billable FROM releases"), "2023 5 3");
}

TEST(ImportIcd10pcs, ABadLineExitsThreeNamingFileAndLineAndLeavesTheRealReleaseInPlace) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import(db, "icd10pcs", {shared_data(k_pcs_2023).string()}).exit_code, 0);
  std::string before = store_snapshot(db);
  auto result =
      import(db, "icd10pcs", {"--year", "2023", fixture("icd10pcs/icd10pcs_codes_bad_2023.txt").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("icd10pcs_codes_bad_2023.txt:3:"), std::string::npos) << result.err;
  EXPECT_EQ(store_snapshot(db), before);
}

TEST(ImportIcd10pcs, AnEmptyFileExitsThreeAndLeavesTheStoreUnchanged) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import(db, "icd10pcs", {fixture("icd10pcs/icd10pcs_order_2023.txt").string()}).exit_code, 0);
  std::string before = store_snapshot(db);
  write_bytes(dir / "icd10pcs_codes_2023.txt", "");
  auto result = import(db, "icd10pcs", {(dir / "icd10pcs_codes_2023.txt").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("icd10pcs_codes_2023.txt: empty file"), std::string::npos) << result.err;
  EXPECT_EQ(store_snapshot(db), before);
}

TEST(ImportIcd10pcs, WithNoYearInTheFileNameExitsTwoAskingForYear) {
  TempDir dir;
  fs::copy_file(fixture("icd10pcs/icd10pcs_codes_2023.txt"), dir / "pcs.txt");
  auto result = import(dir / "s.db", "icd10pcs", {(dir / "pcs.txt").string()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--year"), std::string::npos) << result.err;
  EXPECT_EQ(import(dir / "s.db", "icd10pcs", {"--year", "2023", (dir / "pcs.txt").string()}).exit_code, 0);
}

// The release rows and an aggregate of every index term, to show that a failed import changed nothing.
std::string index_snapshot(const fs::path& db) {
  return query_text(
      db,
      "SELECT (SELECT group_concat(id || ' ' || year || ' ' || imported_at || ' ' || sources) FROM "
      "releases) || ' | ' || count(*) || ' ' || sum(length(path)) || ' ' || "
      "sum(length(coalesce(code, ''))) || ' ' || sum(length(coalesce(see, ''))) FROM index_terms");
}

TEST(ImportIcd10pcs, ImportsTheReal2023CodesFileAndIndexInOneRelease) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result =
      import(db, "icd10pcs", {shared_data(k_pcs_index_2023).string(), shared_data(k_pcs_2023).string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("imported ICD-10-PCS 2023: 78496 codes, 78496 billable, \"codes\" file, 24171 "
                            "index_terms"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(
      query_text(db,
                 "SELECT count(DISTINCT release_id) || ' ' || count(*) || ' ' || sum(level = 0) || ' ' ||"
                 " sum(level > 0) FROM index_terms"),
      "1 24171 3017 21154");
  EXPECT_EQ(query_text(db, "SELECT json_extract(sources, '$[1].role') FROM releases"), "index");
  EXPECT_EQ(query_text(db,
                       "SELECT code || ' ' || code_incomplete || ' ' || level FROM index_terms"
                       " WHERE path = 'Plain Radiography > Abdomen'"),
            "BW00ZZZ 0 1");
  EXPECT_EQ(query_text(db,
                       "SELECT see || ' | ' || code || ' ' || code_incomplete FROM index_terms"
                       " WHERE path = 'Abdominohysterectomy'"),
            "Resection, Uterus | 0UT9 1");
  EXPECT_EQ(query_text(db, "SELECT see FROM index_terms WHERE path = 'Abdominal cavity'"),
            "Peritoneal Cavity")
      << "a <use> goes to see";
  EXPECT_EQ(query_text(db,
                       "SELECT group_concat(see, ' / ') FROM index_terms"
                       " WHERE title = '' AND path = 'Abductor hallucis muscle'"),
            "Foot Muscle, Right / Foot Muscle, Left")
      << "untitled terms keep their parent's path";
  EXPECT_EQ(query_text(db,
                       "SELECT count(*) FROM index_terms t JOIN codes c ON c.release_id = t.release_id"
                       " AND c.code = t.code WHERE t.code_incomplete = 0"),
            "2766")
      << "every complete code of the index is a code of the release, but for 5A0512C and 5A0522C, which the "
         "2023 index still names twice each and the codes file no longer has";
}

TEST(ImportIcd10pcs, AMalformedIndexExitsThreeNamingTheFileAndLeavesTheStoreUnchanged) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import(db, "icd10pcs", {shared_data(k_pcs_2023).string(), shared_data(k_pcs_index_2023).string()})
                .exit_code,
            0);
  std::string before = store_snapshot(db) + index_snapshot(db);
  std::string xml = util::read_gzip(shared_data(k_pcs_index_2023));
  write_bytes(dir / "icd10pcs_index_2023.xml", xml.substr(0, xml.size() / 2));
  auto result =
      import(db, "icd10pcs", {shared_data(k_pcs_2023).string(), (dir / "icd10pcs_index_2023.xml").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("icd10pcs_index_2023.xml:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("malformed XML"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_EQ(store_snapshot(db) + index_snapshot(db), before);

  std::string gzip = util::read_file(shared_data(k_pcs_index_2023));
  write_bytes(dir / "icd10pcs_index_2023.xml.gz", gzip.substr(0, gzip.size() / 2));
  result = import(db, "icd10pcs",
                  {shared_data(k_pcs_2023).string(), (dir / "icd10pcs_index_2023.xml.gz").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("icd10pcs_index_2023.xml.gz"), std::string::npos) << result.err;
  EXPECT_EQ(store_snapshot(db) + index_snapshot(db), before);
}

TEST(ImportIcd10pcs, TheIndexAloneExitsThreeSayingACodesFileIsRequired) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result = import(db, "icd10pcs", {shared_data(k_pcs_index_2023).string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("no ICD-10-PCS codes or order file among the inputs"), std::string::npos)
      << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST(ImportHcpcs, ImportsTheOfficialZipWithCodesAndModifiersApart) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result =
      run_medcode({"--db", db.string(), "--json", "import", "hcpcs", shared_data(k_hcpcs_2019).string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(summary["codes"], 6440);
  EXPECT_EQ(summary["counters"]["modifiers"], 360);
  EXPECT_EQ(query_text(db, "SELECT year || ' ' || n_codes FROM releases WHERE system = 'hcpcs'"),
            "2019 6440");
  EXPECT_EQ(query_text(db, "SELECT count(*) FROM codes WHERE kind = 'modifier'"), "360");
  EXPECT_EQ(query_text(db, "SELECT description FROM codes WHERE code = 'A0021'"),
            "Ambulance service, outside state per mile, transport (medicaid only)");
  EXPECT_EQ(
      query_text(db, "SELECT description FROM codes WHERE code = 'G0151'"),
      "Services performed by a qualified physical therapist in the home health or hospice setting, each 15 "
      "minutes");
}

TEST(ImportHcpcs, ReimportReplacesTheReleaseWithTheSameCounts) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import(db, "hcpcs", {shared_data(k_hcpcs_2019).string()}).exit_code, 0);
  std::string first = query_text(db, "SELECT count(*) || ' ' || sum(billable) FROM codes");
  ASSERT_EQ(import(db, "hcpcs", {shared_data(k_hcpcs_2019).string()}).exit_code, 0);
  EXPECT_EQ(query_text(db, "SELECT count(*) || ' ' || sum(n_codes) FROM releases"), "1 6440");
  EXPECT_EQ(query_text(db, "SELECT count(*) || ' ' || sum(billable) FROM codes"), first);
  EXPECT_EQ(first, "6800 5934");
}

// Each class of bad record exits 3 naming the file and line, and the real release stays as it was.
TEST(ImportHcpcs, BadRecordsExitThreeNamingFileAndLineAndLeaveTheStoreUnchanged) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import(db, "hcpcs", {shared_data(k_hcpcs_2019).string()}).exit_code, 0);
  std::string before = store_snapshot(db);
  std::string unknown_id = util::read_file(fixture("hcpcs/HCPC2019_MINI.txt"));
  unknown_id[unknown_id.find("\nJ7999") + 11] = '5';
  write_bytes(dir / "HCPC2019_UNKNOWN.txt", unknown_id);
  const std::vector<std::pair<fs::path, std::string>> cases = {
      {fixture("hcpcs/HCPC2019_ORPHAN.txt"),
       "HCPC2019_ORPHAN.txt:5: continuation of A0080 without its first record"},
      {fixture("hcpcs/HCPC2019_SHORT.txt"), "HCPC2019_SHORT.txt:5: record is 150 columns long"},
      {dir / "HCPC2019_UNKNOWN.txt", "HCPC2019_UNKNOWN.txt:7: unknown record identification code '5'"},
  };
  for (const auto& [path, message] : cases) {
    auto result = import(db, "hcpcs", {path.string()});
    EXPECT_EQ(result.exit_code, 3) << path;
    EXPECT_NE(result.err.find(message), std::string::npos) << result.err;
    EXPECT_EQ(store_snapshot(db), before) << path;
  }
}

TEST(ImportHcpcs, AFileOfAnotherKindExitsThree) {
  TempDir dir;
  auto result =
      import(dir / "s.db", "hcpcs", {"--year", "2019", fixture("icd10pcs/icd10pcs_order_2023.txt").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("icd10pcs_order_2023.txt: not an HCPCS annual fixed-width file"),
            std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace medcode
