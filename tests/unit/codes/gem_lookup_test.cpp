// Tests of GEM lookups on an in-memory store: alternatives, combinations by lowest scenario, no map, input
// forms, the year, and the hint when no GEM is imported.
#include <gtest/gtest.h>

#include "medcode/codes/gem.h"
#include "medcode/codes/import.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::codes {
namespace {

using medcode::testing::fixture;
using medcode::testing::shared_data;

std::string describe(const std::vector<GemTarget>& targets) {
  std::string out;
  for (const GemTarget& target : targets) {
    if (!out.empty()) out += ", ";
    out += target.code + " " + std::string(gem_mapping_kind_name(gem_mapping_kind(target)));
    if (target.combination)
      out += " " + std::to_string(target.scenario) + "/" + std::to_string(target.choice_list);
  }
  return out;
}

ImportOptions with_paths(std::vector<std::filesystem::path> paths, std::optional<int> year = std::nullopt) {
  ImportOptions options;
  options.paths = std::move(paths);
  options.year = year;
  return options;
}

class GemLookupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    import_gem(m_db,
               with_paths({fixture("gem/2018_gem_pcs_I9I10.txt"), fixture("gem/2018_gem_pcs_I10I9.txt")}));
  }
  store::Database m_db = store::Database::open_in_memory();
};

TEST(GemMappingKind, NamesExactApproximateAndCombination) {
  EXPECT_EQ(gem_mapping_kind_name(gem_mapping_kind({"A00.0", false, false, 0, 0})), "exact");
  EXPECT_EQ(gem_mapping_kind_name(gem_mapping_kind({"I20.8", true, false, 0, 0})), "approximate");
  EXPECT_EQ(gem_mapping_kind_name(gem_mapping_kind({"O72.0", true, true, 1, 1})), "combination");
}

TEST_F(GemLookupTest, ReturnsEveryAlternativeOfAPlainMappingInFileOrder) {
  EXPECT_EQ(describe(map_icd9_to_icd10(m_db, "00.66", true)), "02703ZZ approximate, 02704ZZ approximate");
  EXPECT_EQ(describe(map_icd9_to_icd10(m_db, "3995", true)), "5A1D00Z exact");
}

TEST_F(GemLookupTest, ReturnsEveryTargetOfTheLowestScenarioOfACombinationByChoiceList) {
  EXPECT_EQ(describe(map_icd9_to_icd10(m_db, "3611", true)),
            "021008W combination 1/1, 021009W combination 1/1, 5A1221Z combination 1/2");
}

TEST_F(GemLookupTest, ReturnsNothingForANoMapOrAnUnknownOrMisshapenCode) {
  EXPECT_TRUE(map_icd9_to_icd10(m_db, "0002", true).empty());
  EXPECT_TRUE(map_icd9_to_icd10(m_db, "9999", true).empty());
  EXPECT_TRUE(map_icd9_to_icd10(m_db, "not a code", true).empty());
}

TEST_F(GemLookupTest, LooksUpTheReverseDirectionThroughGemLookup) {
  GemLookup lookup(m_db, k_icd10pcs_to_icd9pcs);
  EXPECT_EQ(lookup.year(), 2018);
  EXPECT_EQ(describe(lookup.targets("0016070")), "0231 approximate");
  EXPECT_EQ(describe(lookup.targets("02703zz")), "0066 approximate");
  EXPECT_TRUE(lookup.targets("XW033E5").empty());
}

TEST_F(GemLookupTest, SaysToImportAGemWhenNoneOfTheDirectionIsImported) {
  try {
    map_icd9_to_icd10(m_db, "4139", false);
    FAIL() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("no ICD-9-CM → ICD-10-CM GEM is imported: run `medcode import gem"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(GemLookupTest, UsesTheNewestYearUnlessOneIsNamedAndRefusesAYearNotImported) {
  import_gem(m_db, with_paths({fixture("gem/2018_gem_pcs_I9I10.txt")}, 2016));
  EXPECT_EQ(GemLookup(m_db, k_icd9pcs_to_icd10pcs).year(), 2018);
  EXPECT_EQ(GemLookup(m_db, k_icd9pcs_to_icd10pcs, 2016).year(), 2016);
  try {
    GemLookup(m_db, k_icd9pcs_to_icd10pcs, 2015);
    FAIL() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("of 2015 is imported (imported: 2016, 2018)"), std::string::npos)
        << e.what();
  }
}

TEST(GemLookupReal, MapsIcd9DiagnosesWithThe2018CmGem) {
  store::Database db = store::Database::open_in_memory();
  import_gem(db, with_paths({shared_data("cms/gem/2018/2018_gem_cm_I9I10.txt.gz")}));
  EXPECT_EQ(describe(map_icd9_to_icd10(db, "413.9", false)), "I20.8 approximate, I20.9 approximate");
  EXPECT_EQ(describe(map_icd9_to_icd10(db, "0010", false)), "A00.0 exact");
  EXPECT_EQ(describe(map_icd9_to_icd10(db, "E000.0", false)), "Y99.0 exact");
  // 666.04 has a plain alternative (O72.0) and a combination; the combination's scenario 1 wins.
  std::vector<GemTarget> combination = map_icd9_to_icd10(db, "66604", false);
  ASSERT_EQ(combination.size(), 10u);
  EXPECT_EQ(describe({combination.front()}), "O72.0 combination 1/1");
  EXPECT_EQ(describe({combination.back()}), "O43.233 combination 1/2");
}

}  // namespace
}  // namespace medcode::codes
