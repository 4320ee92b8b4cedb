// End-to-end tests of `medcode import icd10pcs` and `medcode import hcpcs` on the real files and bad input.
#include <gtest/gtest.h>

#include "medcode/store/database.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode {
namespace {

using testing::fixture;
using testing::query_int;
using testing::query_text;
using testing::run_medcode;
using testing::shared_data;
using testing::TempDir;

TEST(ImportIcd10pcs, ImportsTheReal2023CodesFile) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result = run_medcode({"--db", db.string(), "import", "icd10pcs",
                             shared_data("cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(query_text(db, "SELECT year || ' ' || n_codes || ' ' || n_billable FROM releases WHERE system = 'icd10pcs'"),
            "2023 78496 78496");
  EXPECT_EQ(query_text(db, "SELECT parent || ' ' || chapter FROM codes WHERE code = '0016070'"), "001 0");
}

TEST(ImportIcd10pcs, ABadLineExitsThreeAndLeavesThePreviousReleaseInPlace) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(run_medcode({"--db", db.string(), "import", "icd10pcs", fixture("icd10pcs/icd10pcs_order_2023.txt").string()}).exit_code, 0);
  std::string before = query_text(db, "SELECT group_concat(code) FROM codes");
  auto result = run_medcode({"--db", db.string(), "import", "icd10pcs", "--year", "2023",
                             fixture("icd10pcs/icd10pcs_codes_bad_2023.txt").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("icd10pcs_codes_bad_2023.txt:3:"), std::string::npos) << result.err;
  EXPECT_EQ(query_text(db, "SELECT group_concat(code) FROM codes"), before);
}

TEST(ImportHcpcs, ImportsTheOfficialZipWithCodesAndModifiersApart) {
  TempDir dir;
  auto db = dir / "s.db";
  auto result = run_medcode({"--db", db.string(), "--json", "import", "hcpcs",
                             shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("\"modifiers\": 360"), std::string::npos) << result.out;
  EXPECT_EQ(query_text(db, "SELECT year || ' ' || n_codes FROM releases WHERE system = 'hcpcs'"), "2019 6440");
  EXPECT_EQ(query_text(db, "SELECT count(*) FROM codes WHERE kind = 'modifier'"), "360");
  EXPECT_EQ(query_text(db, "SELECT description FROM codes WHERE code = 'A0021'"),
            "Ambulance service, outside state per mile, transport (medicaid only)");
}

TEST(ImportHcpcs, ReimportReplacesTheRelease) {
  TempDir dir;
  auto db = dir / "s.db";
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(run_medcode({"--db", db.string(), "import", "hcpcs", fixture("hcpcs/HCPC2019_MINI.txt").string()}).exit_code, 0);
  }
  EXPECT_EQ(query_text(db, "SELECT count(*) || ' ' || sum(n_codes) FROM releases"), "1 4");
  EXPECT_EQ(query_text(db, "SELECT billable FROM codes WHERE code = 'G9999'"), "0") << "terminated before 2019";
}

TEST(ImportHcpcs, AnOrphanContinuationExitsThreeAndLeavesTheStoreUnchanged) {
  TempDir dir;
  auto db = dir / "s.db";
  ASSERT_EQ(run_medcode({"--db", db.string(), "import", "hcpcs", fixture("hcpcs/HCPC2019_MINI.txt").string()}).exit_code, 0);
  std::string before = query_text(db, "SELECT imported_at || group_concat(code) FROM releases JOIN codes ON codes.release_id = releases.id");
  auto result = run_medcode({"--db", db.string(), "import", "hcpcs", fixture("hcpcs/HCPC2019_ORPHAN.txt").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("HCPC2019_ORPHAN.txt:5: continuation of A0080"), std::string::npos) << result.err;
  EXPECT_EQ(query_text(db, "SELECT imported_at || group_concat(code) FROM releases JOIN codes ON codes.release_id = releases.id"), before);
}

TEST(ImportHcpcs, AFileOfAnotherKindExitsThree) {
  TempDir dir;
  auto result = run_medcode({"--db", (dir / "s.db").string(), "import", "hcpcs", "--year", "2019",
                             fixture("icd10pcs/icd10pcs_order_2023.txt").string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("not an HCPCS annual fixed-width file"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace medcode
