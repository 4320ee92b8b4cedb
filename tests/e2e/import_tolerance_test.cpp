// End-to-end tests of how `medcode import` treats official files that bend their layout: HCPCS records kept
// with a warning (or refused under --strict), order-file lines cut short, zips with nothing to import.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

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

const std::string k_hcpcs_2019 = "cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip";
const std::string k_shifted = "hcpcs/HCPC2019_SHIFTED_DATES.txt";

testing::ProcessResult import(const fs::path& db, const std::string& system, std::vector<std::string> args) {
  std::vector<std::string> command = {"--db", db.string(), "import", system};
  command.insert(command.end(), args.begin(), args.end());
  return run_medcode(command);
}

// What imports wrote, in one string: the releases and an aggregate of every code row.
std::string store_snapshot(const fs::path& db) {
  return query_text(
      db,
      "SELECT (SELECT group_concat(id || ' ' || system || ' ' || year || ' ' || imported_at || ' ' ||"
      " n_codes || ' ' || n_billable) FROM releases) || ' | ' || count(*) || ' ' || sum(billable) ||"
      " ' ' || sum(length(description)) || ' ' || sum(length(coalesce(attributes, ''))) FROM codes");
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// A zip at `zip` holding one member, README.txt, that no importer recognises.
void write_readme_zip(const fs::path& zip) {
  std::string command =
      "python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); "
      "z.writestr('README.txt', 'Read the PDF for the layout.\\n'); z.close()\" '" +
      zip.string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0);
}

TEST(ImportTolerance, HcpcsRecordsWithAShiftedDateImportWithOneWarningEachAndEveryCode) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result = run_medcode({"--db", db.string(), "--json", "import", "hcpcs", fixture(k_shifted).string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(summary["codes"], 7);
  EXPECT_EQ(summary["counters"]["fields_dropped"], 5);
  ASSERT_EQ(summary["warnings"].size(), 5u) << summary["warnings"].dump();
  const std::vector<std::pair<std::string, std::string>> bent = {
      {"5", "C9488"}, {"6", "C9745"}, {"7", "C9746"}, {"9", "C9747"}, {"11", "C9748"}};
  for (std::size_t i = 0; i < bent.size(); ++i) {
    std::string expected = "HCPC2019_SHIFTED_DATES.txt:" + bent[i].first + ": " + bent[i].second +
                           ": asc_payment_group_effective_date '";
    EXPECT_NE(summary["warnings"][i].get<std::string>().find(expected), std::string::npos)
        << summary["warnings"][i];
    EXPECT_NE(result.err.find(expected), std::string::npos) << "logged too: " << result.err;
  }
  EXPECT_EQ(
      query_text(
          db,
          "SELECT count(*) || ' ' || count(json_extract(attributes, '$.asc_payment_group_effective_date'))"
          " FROM codes WHERE code IN ('C9488', 'C9745', 'C9746', 'C9747', 'C9748')"),
      "5 0");
  EXPECT_EQ(query_text(db, "SELECT json_extract(attributes, '$.added_date') FROM codes WHERE code = 'C9745'"),
            "2017-07-01");
}

TEST(ImportTolerance, StrictExitsThreeAtTheFirstShiftedDateNamingFileAndLineAndLeavesTheStoreUnchanged) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import(db, "hcpcs", {fixture("hcpcs/HCPC2019_MINI.txt").string()}).exit_code, 0);
  std::string before = store_snapshot(db);
  auto result = import(db, "hcpcs", {"--strict", fixture(k_shifted).string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(
      result.err.find("HCPC2019_SHIFTED_DATES.txt:5: asc_payment_group_effective_date '170401' in columns "
                      "233-240 is not a YYYYMMDD date"),
      std::string::npos)
      << result.err;
  EXPECT_EQ(store_snapshot(db), before);
}

TEST(ImportTolerance, AnHcpcsRecordLongerThanTheLayoutWarnsAndUnderStrictExitsThree) {
  TempDir dir;
  auto db = dir / "s.db";
  std::string text = util::read_file(fixture("hcpcs/HCPC2019_MINI.txt"));
  text.insert(text.find("\nJ7999") + 1 + 320, std::string(10, ' '));
  write_bytes(dir / "HCPC2019_LONG.txt", text);
  auto tolerant = import(db, "hcpcs", {(dir / "HCPC2019_LONG.txt").string()});
  ASSERT_EQ(tolerant.exit_code, 0) << tolerant.err;
  EXPECT_NE(tolerant.err.find("HCPC2019_LONG.txt:7: J7999: record is 330 columns long, the layout has 320"),
            std::string::npos)
      << tolerant.err;
  std::string before = store_snapshot(db);
  auto strict = import(db, "hcpcs", {"--strict", (dir / "HCPC2019_LONG.txt").string()});
  EXPECT_EQ(strict.exit_code, 3);
  EXPECT_NE(strict.err.find("HCPC2019_LONG.txt:7: record is 330 columns long"), std::string::npos)
      << strict.err;
  EXPECT_EQ(store_snapshot(db), before);
}

TEST(ImportTolerance, TheReal2019HcpcsFileImportsWithoutWarningsEvenUnderStrict) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result = run_medcode(
      {"--db", db.string(), "--json", "import", "hcpcs", "--strict", shared_data(k_hcpcs_2019).string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(summary["codes"], 6440);
  EXPECT_EQ(summary["warnings"], nlohmann::json::array());
  EXPECT_FALSE(summary["counters"].contains("fields_dropped"));
  EXPECT_FALSE(summary["counters"].contains("records_too_long"));
}

TEST(ImportTolerance, AnIcd10cmOrderLineCutShortExitsThreeNamingFileAndLine) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import(db, "icd10cm", {"--year", "2023", fixture("icd10cm/order_mini.txt").string()}).exit_code,
            0);
  std::string before = store_snapshot(db);
  std::string text = util::read_file(fixture("icd10cm/order_mini.txt"));
  text.insert(text.find("\n00003") + 1, "00010 C43     0 Mali\n");
  write_bytes(dir / "icd10cm_order_2023.txt", text);
  auto result = import(db, "icd10cm", {(dir / "icd10cm_order_2023.txt").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find(
                "icd10cm_order_2023.txt:3: code C43 has no long description: the line ends at column 20"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(store_snapshot(db), before);
}

TEST(ImportTolerance, AnIcd10pcsOrderLineCutShortExitsThreeNamingFileAndLine) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import(db, "icd10pcs", {fixture("icd10pcs/icd10pcs_order_2023.txt").string()}).exit_code, 0);
  std::string before = store_snapshot(db);
  std::string text = util::read_file(fixture("icd10pcs/icd10pcs_order_2023.txt"));
  write_bytes(dir / "icd10pcs_order_2023.txt", text + "00006 0016072 1 Bypass Cereb Vent\r\n");
  auto result = import(db, "icd10pcs", {(dir / "icd10pcs_order_2023.txt").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("icd10pcs_order_2023.txt:6: code 0016072 has no long description"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(store_snapshot(db), before);
}

TEST(ImportTolerance, AZipWithNothingToImportExitsThreeNamingTheZipAndItsMembers) {
  TempDir dir;
  auto zip = dir / "codes-2023.zip";
  write_readme_zip(zip);
  auto icd10cm = import(dir / "s.db", "icd10cm", {zip.string()});
  EXPECT_EQ(icd10cm.exit_code, 3);
  EXPECT_NE(icd10cm.err.find("codes-2023.zip: no ICD-10-CM file"), std::string::npos) << icd10cm.err;
  EXPECT_NE(icd10cm.err.find("among its members (README.txt)"), std::string::npos) << icd10cm.err;
  for (const char* system : {"icd10pcs", "hcpcs", "gem"}) {
    auto result = import(dir / "s.db", system, {zip.string()});
    EXPECT_EQ(result.exit_code, 3) << system;
    EXPECT_NE(result.err.find("codes-2023.zip: no member is"), std::string::npos)
        << system << ": " << result.err;
    EXPECT_NE(result.err.find("(members: README.txt)"), std::string::npos) << system << ": " << result.err;
  }
}

}  // namespace
}  // namespace medcode
