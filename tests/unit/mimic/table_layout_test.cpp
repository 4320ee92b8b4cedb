// Tests of the MIMIC table layouts: names in the store and as published, lookups and column types.
#include "medcode/mimic/table_layout.h"

#include <gtest/gtest.h>

#include <set>

namespace medcode::mimic {
namespace {

TEST(TableLayout, KnowsEveryPublishedTableOfBothSources) {
  EXPECT_EQ(table_layouts(Source::mimic_iv).size(), 22u + 9u + 4u);
  EXPECT_EQ(table_layouts(Source::mimic_iii).size(), 26u);
  std::set<std::string> names;
  for (const auto& layout : table_layouts(Source::mimic_iv))
    EXPECT_TRUE(names.insert(store_table_name(layout)).second);
}

TEST(TableLayout, FindsTablesByNameModulePathOrUpperCase) {
  const TableLayout* labevents = find_table_layout(Source::mimic_iv, "hosp/labevents");
  ASSERT_NE(labevents, nullptr);
  EXPECT_EQ(labevents, find_table_layout(Source::mimic_iv, "LABEVENTS"));
  EXPECT_EQ(store_table_name(*labevents), "mimic4_labevents");
  EXPECT_EQ(published_name(*labevents), "hosp/labevents");
  const TableLayout* notes = find_table_layout(Source::mimic_iii, "NOTEEVENTS");
  ASSERT_NE(notes, nullptr);
  EXPECT_EQ(store_table_name(*notes), "mimic3_noteevents");
  EXPECT_EQ(published_name(*notes), "NOTEEVENTS");
  EXPECT_EQ(find_table_layout(Source::mimic_iv, "icu/labevents"), nullptr);
  EXPECT_EQ(find_table_layout(Source::mimic_iii, "discharge"), nullptr);
}

TEST(TableLayout, TypesIdentifiersAsIntegersMeasurementsAsRealsAndCodesAsText) {
  const TableLayout& labevents = *find_table_layout(Source::mimic_iv, "labevents");
  EXPECT_EQ(column_type(labevents, "hadm_id"), ColumnType::integer);
  EXPECT_EQ(column_type(labevents, "valuenum"), ColumnType::real);
  EXPECT_EQ(column_type(labevents, "value"), ColumnType::text);
  EXPECT_EQ(column_type(labevents, "a_column_no_layout_knows"), ColumnType::text);
  EXPECT_EQ(column_type(*find_table_layout(Source::mimic_iv, "diagnoses_icd"), "icd_code"), ColumnType::text);
  // `value` is a measurement only where the layout says so.
  EXPECT_EQ(column_type(*find_table_layout(Source::mimic_iv, "outputevents"), "value"), ColumnType::real);
}

TEST(TableLayout, ParsesSourceNames) {
  EXPECT_EQ(parse_source("MIMIC-IV"), Source::mimic_iv);
  EXPECT_EQ(parse_source("mimic-iii"), Source::mimic_iii);
  EXPECT_FALSE(parse_source("mimic-v").has_value());
  EXPECT_EQ(source_name(Source::mimic_iii), "mimic-iii");
}

}  // namespace
}  // namespace medcode::mimic
