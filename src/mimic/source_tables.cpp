// The table and column names that differ between MIMIC-IV (with MIMIC-IV-Note) and MIMIC-III.
#include "source_tables.h"

#include <fmt/format.h>

#include "medcode/mimic/import.h"

namespace medcode::mimic {

SourceTables source_tables(Source source) {
  if (source == Source::mimic_iv) {
    return {"mimic4_admissions",  "mimic4_patients", "mimic4_diagnoses_icd", "mimic4_procedures_icd",
            "icd_code",           "icd_version",     "mimic4_discharge",     "1",
            "charttime, note_id", "note_id"};
  }
  return {"mimic3_admissions",
          "mimic3_patients",
          "mimic3_diagnoses_icd",
          "mimic3_procedures_icd",
          "icd9_code",
          "9",
          "mimic3_noteevents",
          "category = 'Discharge summary' AND (iserror IS NULL OR iserror = 0)",
          "CASE description WHEN 'Report' THEN 0 ELSE 1 END, chartdate, row_id",
          "CAST(row_id AS TEXT)"};
}

std::string has_discharge_note_sql(store::Database& db, const SourceTables& tables,
                                   const std::string& alias) {
  if (!has_table(db, tables.notes)) return "0";
  return fmt::format("{}.subject_id IN (SELECT subject_id FROM {} WHERE {})", alias, tables.notes,
                     tables.discharge_filter);
}

}  // namespace medcode::mimic
