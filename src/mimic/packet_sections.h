// The sections of an EHR packet as queries over the imported MIMIC tables: which table each reads, in which
// order, with which dictionary joined, per source. Internal to the packet builder.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "medcode/mimic/table_layout.h"
#include "medcode/store/database.h"

namespace medcode::mimic::packet_detail {

// A dictionary table joined to a section's rows (d_labitems, d_icd_diagnoses) as alias `d`.
struct Dictionary {
  std::string table;
  std::string on;                    // join condition between `t` (the section's table) and `d`
  std::vector<std::string> columns;  // columns of `d` added to each row (null when the table is absent)
};

// A list section: the rows of one table for one admission (alias `t`), in a fixed order.
struct ListSection {
  std::string name;   // key in the packet: diagnoses, procedures, labs, radiology, emar
  std::string table;  // empty: the source has no such table (MIMIC-III has no eMAR)
  std::string note;   // why the section is always empty, when table is empty
  // Explicit (key, SQL expression) pairs; empty: every column of the table but subject_id and hadm_id.
  std::vector<std::pair<std::string, std::string>> columns;
  std::vector<std::string> drop;  // further columns left out when every column is taken
  std::string filter;             // extra condition on `t`, e.g. the note category
  std::string order_by;           // ends with a unique key, so the order is total
  std::string key;                // the row key reported in the input manifest
  std::optional<Dictionary> dictionary;
  std::optional<int> cap;  // the first N rows; none: every row
};

// The tables one source's packets read.
struct SourceTables {
  std::string patients;
  std::vector<std::string> demographics;  // columns of the patients row, those present are taken
  std::string admissions;
  std::vector<ListSection> sections;  // in packet order
  // The discharge note: table, condition on `t`, order, key column, date column.
  std::string discharge_table;
  std::string discharge_filter;
  std::string discharge_order_by;
  std::string discharge_key;
  std::string discharge_time;
};

// The section layout of `source`, with the caps of the options applied.
SourceTables source_tables(Source source, int row_cap_labs, int row_cap_radiology, int row_cap_emar);

struct SectionRows {
  nlohmann::json rows = nlohmann::json::array();
  std::int64_t total = 0;  // rows the admission has in the table
};

// The rows of `section` for one admission (empty when its table is not imported).
SectionRows read_section(store::Database& db, const ListSection& section, std::int64_t hadm_id);

// One row of `table` as a JSON object of `columns` (those the table has), or null when no row matches
// `key_column` = `key`.
nlohmann::json read_row(store::Database& db, const std::string& table,
                        const std::vector<std::string>& columns, const std::string& key_column,
                        std::int64_t key);

// Every column of `table` in declaration order.
std::vector<std::string> table_columns(store::Database& db, const std::string& table);

}  // namespace medcode::mimic::packet_detail
