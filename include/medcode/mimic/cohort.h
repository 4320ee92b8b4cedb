// `medcode cohort`: the top patients of an imported MIMIC source, and admission facts (discharge note and
// ICD-10 codes) with patient-level splits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medcode/mimic/table_layout.h"
#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::mimic {

// The source to work on: `requested`, else MIMIC-IV when its admissions are imported, else MIMIC-III.
// Error(bad_input) when the source's admissions are not imported.
Source resolve_source(store::Database& db, std::optional<Source> requested);

struct CohortOptions {
  std::optional<Source> source;
  std::int64_t limit = 100;
  std::optional<std::filesystem::path> csv;  // also written here, atomically
  std::optional<std::int64_t> run_id;
};

struct CohortPatient {
  std::int64_t rank = 0;
  std::int64_t subject_id = 0;
  std::int64_t n_admissions = 0;
  std::string first_admittime;
  std::string last_admittime;
  bool has_discharge_note = false;
};

struct CohortSummary {
  Source source = Source::mimic_iv;
  std::vector<CohortPatient> patients;
  std::int64_t admissions = 0;
};

// The top `limit` patients by admission count, ties broken by subject id; replaces the source's cohort.
CohortSummary build_cohort(store::Database& db, const CohortOptions& options);

struct FactsOptions {
  std::optional<Source> source;
  std::int64_t num_samples = 100;  // patients
  std::uint64_t seed = 42;         // patient-level splits
  bool map_icd9 = false;           // ICD-9 codes to ICD-10 through the imported GEMs
  std::optional<int> gem_year;     // default: the newest imported GEM
  std::optional<std::int64_t> run_id;
  util::ProgressCallback progress;
};

struct SplitCount {
  std::int64_t patients = 0;
  std::int64_t admissions = 0;
};

struct FactsSummary {
  Source source = Source::mimic_iv;
  bool from_cohort = false;  // patients taken from `cohort build`'s list (else from every patient)
  std::int64_t patients = 0;
  std::int64_t patients_with_notes = 0;
  std::int64_t admissions = 0;
  std::int64_t admissions_with_notes = 0;
  std::int64_t diagnosis_codes = 0;  // stored code rows, after any mapping
  std::int64_t procedure_codes = 0;
  std::int64_t icd10_codes = 0;       // recorded as ICD-10 by MIMIC
  std::int64_t icd9_mapped = 0;       // ICD-9 codes that the GEMs map
  std::int64_t icd9_no_map = 0;       // ICD-9 codes the GEMs have no ICD-10 code for
  std::int64_t icd9_left_out = 0;     // ICD-9 codes not mapped (no --map-icd9, or no GEM of their kind)
  std::int64_t not_in_release = 0;    // codes the release of their admission's year lacks
  std::vector<std::string> releases;  // "ICD-10-CM 2023", the releases that validated codes
  SplitCount train, val, test;
  std::vector<std::string> warnings;
};

// Selects `num_samples` patients (those with discharge notes first) and replaces the source's facts with one
// row per admission of theirs. Error(bad_input) when the store lacks the tables or code sets needed.
FactsSummary build_facts(store::Database& db, const FactsOptions& options);

}  // namespace medcode::mimic
