// The MIMIC-III and MIMIC-IV tables that `import` knows: where each lies in a release folder, the types of
// its columns and the keys and indexes that cohort queries need.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::mimic {

enum class Source { mimic_iv, mimic_iii };

std::string_view source_name(Source source);  // "mimic-iv" | "mimic-iii"
std::optional<Source> parse_source(std::string_view text);

enum class ColumnType { integer, real, text };

struct TableLayout {
  Source source = Source::mimic_iv;
  std::string_view module;  // MIMIC-IV: hosp | icu | note; empty for MIMIC-III
  std::string_view name;    // lower case, e.g. "labevents"
  // Typed columns, "name:i" (integer) or "name:r" (real), space separated; every other column is text.
  std::string_view typed_columns;
  std::string_view required;  // columns the file must have, space separated
  // Indexes, each "col1,col2"; a leading '!' makes it unique (a key).
  std::vector<std::string_view> indexes;
};

// Every known table of a source, in import order (dictionaries and patients first).
std::span<const TableLayout> table_layouts(Source source);
// The layout of `name` ("labevents", "hosp/labevents" or "LABEVENTS"), or nullptr.
const TableLayout* find_table_layout(Source source, std::string_view name);

// The table's name in the store: mimic4_<name> or mimic3_<name>.
std::string store_table_name(const TableLayout& layout);
// "hosp/labevents" (MIMIC-IV) or "LABEVENTS" (MIMIC-III): how the release names it.
std::string published_name(const TableLayout& layout);
ColumnType column_type(const TableLayout& layout, std::string_view column);

}  // namespace medcode::mimic
