// How each MIMIC source names the tables and columns that cohorts read (internal to the mimic module).
#pragma once

#include <string>

#include "medcode/mimic/import.h"
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

// An SQL expression that is 1 when the patient `alias`.subject_id has a discharge note (0 when the source's
// notes are not imported). The notes' subjects are listed once, not searched per patient.
std::string has_discharge_note_sql(store::Database& db, const SourceTables& tables, const std::string& alias);

}  // namespace medcode::mimic
