// How each MIMIC source names the tables and columns that cohorts read (internal to the mimic module).
#pragma once

#include <string>

#include "medcode/mimic/table_layout.h"
#include "medcode/store/database.h"

namespace medcode::mimic {

struct SourceTables {
  std::string admissions;
  std::string patients;
  std::string diagnoses;
  std::string procedures;
  std::string icd_code;     // icd_code (MIMIC-IV) | icd9_code (MIMIC-III)
  std::string icd_version;  // a column, or the constant 9 for MIMIC-III
  std::string notes;        // the table holding discharge notes
  // Rows of `notes` that are discharge notes ("1" when every row is).
  std::string discharge_filter;
  // Order of a stay's discharge notes, the main report first.
  std::string discharge_order;
  std::string note_id;  // an expression naming a note
};

SourceTables source_tables(Source source);

// True when the store holds the table (by its store name).
bool table_exists(store::Database& db, const std::string& table);

}  // namespace medcode::mimic
