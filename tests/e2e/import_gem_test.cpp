// End-to-end tests of `medcode import gem` on CMS's real 2018 CM GEMs, the PCS fixtures and bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

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

// Line counts of the files (`zcat FILE | wc -l`), and of their distinct source codes, no-map entries,
// approximate mappings and combination entries, counted with awk on the flags.
const std::string k_i9i10 = "cms/gem/2018/2018_gem_cm_I9I10.txt.gz";
const std::string k_i10i9 = "cms/gem/2018/2018_gem_cm_I10I9.txt.gz";

testing::ProcessResult import_gem(const fs::path& db, std::vector<std::string> args) {
  std::vector<std::string> command = {"--db", db.string(), "import", "gem"};
  command.insert(command.end(), args.begin(), args.end());
  return run_medcode(command);
}

std::string count_rows(const fs::path& db) {
  return query_text(
      db,
      "SELECT coalesce(group_concat(n, ' '), '') FROM (SELECT year || ':' || source || '->' || target "
      "|| ':' || count(*) AS n FROM gem_mappings GROUP BY year, source, target ORDER BY source)");
}

TEST(ImportGem, ImportsBothReal2018CmGemsWithEveryLineAsARow) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result = import_gem(db, {shared_data(k_i9i10).string(), shared_data(k_i10i9).string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("imported GEM icd9cm_to_icd10cm 2018: 24860 entries, 14567 source codes, 24438 "
                            "mappings (20916 approximate, 2338 combination), 422 no map"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("imported GEM icd10cm_to_icd9cm 2018: 81593 entries, 71704 source codes, 80862 "
                            "mappings (77340 approximate, 9033 combination), 731 no map"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(count_rows(db), "2018:icd10cm->icd9cm:81593 2018:icd9cm->icd10cm:24860");
  EXPECT_EQ(query_text(db,
                       "SELECT group_concat(target_code || ' ' || approximate || no_map || combination || "
                       "scenario || choice_list, ', ') FROM gem_mappings WHERE source = 'icd9cm' AND "
                       "source_code = '4139'"),
            "I20.8 10000, I20.9 10000");
  EXPECT_EQ(query_text(db,
                       "SELECT group_concat(target_code, ' ') FROM gem_mappings WHERE source = 'icd10cm' "
                       "AND source_code IN ('I20.8', 'I20.9')"),
            "4139 4139");
  EXPECT_EQ(query_text(db, "SELECT count(*) FROM gem_mappings WHERE target_code IS NULL"), "1153");
  EXPECT_EQ(query_text(db, "SELECT counters FROM runs WHERE command LIKE '%import gem%'").find("\"codes\""),
            std::string::npos);
}

TEST(ImportGem, ReimportReplacesTheRowsInsteadOfAddingThem) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(import_gem(db, {shared_data(k_i9i10).string()}).exit_code, 0);
  auto result = run_medcode({"--db", db.string(), "--json", "import", "gem", shared_data(k_i9i10).string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["gem"]["icd9cm_to_icd10cm"]["entries"], 24860);
  EXPECT_EQ(count_rows(db), "2018:icd9cm->icd10cm:24860");
}

TEST(ImportGem, ImportsThePcsFixturesWithTheYearGiven) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result = import_gem(db, {"--year", "2017", fixture("gem/2018_gem_pcs_I9I10.txt").string(),
                                fixture("gem/2018_gem_pcs_I10I9.txt").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(count_rows(db), "2017:icd10pcs->icd9pcs:5 2017:icd9pcs->icd10pcs:10");
}

TEST(ImportGem, BadInputExitsWithThreeAndLeavesNoRows) {
  TempDir dir;
  auto db = dir / "s.db";
  auto bad = dir / "2018_gem_cm_I9I10.txt";
  std::ofstream(bad) << "0010  A000    00000\n0011  A001    0000\n";
  auto result = import_gem(db, {shared_data(k_i10i9).string(), bad.string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("2018_gem_cm_I9I10.txt:2: flags field '0000' is not five digits"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(query_text(db, "SELECT count(*) FROM gem_mappings"), "0");
}

TEST(ImportGem, WithoutFilesIsAUsageError) {
  TempDir dir;
  auto result = import_gem(dir / "s.db", {});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("GEMs are not fetched"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace medcode
