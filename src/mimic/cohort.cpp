// `cohort build`: the deterministic top-N patients of a source by admission count, into the store and a CSV.
#include <fmt/format.h>

#include "medcode/mimic/cohort.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "source_tables.h"

namespace medcode::mimic {

Source resolve_source(store::Database& db, std::optional<Source> requested) {
  if (requested) {
    if (!has_table(db, source_tables(*requested).admissions)) {
      fail(ExitCode::bad_input, "the store has no {} admissions: run `medcode import {} DIR` first",
           source_name(*requested), source_name(*requested));
    }
    return *requested;
  }
  for (Source source : {Source::mimic_iv, Source::mimic_iii}) {
    if (has_table(db, source_tables(source).admissions)) return source;
  }
  fail(ExitCode::bad_input,
       "the store has no MIMIC admissions: run `medcode import mimic-iv DIR` or `medcode import mimic-iii "
       "DIR` "
       "first");
}

namespace {

std::string cohort_csv(const CohortSummary& summary) {
  std::string csv = "rank,subject_id,n_admissions,first_admittime,last_admittime,has_discharge_note\n";
  for (const auto& patient : summary.patients) {
    csv += fmt::format("{},{},{},{},{},{}\n", patient.rank, patient.subject_id, patient.n_admissions,
                       patient.first_admittime, patient.last_admittime, patient.has_discharge_note ? 1 : 0);
  }
  return csv;
}

}  // namespace

CohortSummary build_cohort(store::Database& db, const CohortOptions& options) {
  if (options.limit < 1) fail(ExitCode::usage, "--limit must be at least 1 (got {})", options.limit);
  CohortSummary summary;
  summary.source = resolve_source(db, options.source);
  SourceTables tables = source_tables(summary.source);
  std::string has_note = has_discharge_note_sql(db, tables, "a");
  auto query = db.prepare(
      fmt::format("SELECT a.subject_id, count(*), min(a.admittime), max(a.admittime), {} FROM {} a "
                  "GROUP BY a.subject_id ORDER BY count(*) DESC, a.subject_id LIMIT ?",
                  has_note, tables.admissions));
  query.bind(1, options.limit);
  while (query.step()) {
    CohortPatient patient;
    patient.rank = static_cast<std::int64_t>(summary.patients.size()) + 1;
    patient.subject_id = query.column_int64(0);
    patient.n_admissions = query.column_int64(1);
    patient.first_admittime = query.column_optional_text(2).value_or("");
    patient.last_admittime = query.column_optional_text(3).value_or("");
    patient.has_discharge_note = query.column_int64(4) != 0;
    summary.admissions += patient.n_admissions;
    summary.patients.push_back(std::move(patient));
  }
  if (summary.patients.empty())
    fail(ExitCode::bad_input, "{} holds no admissions to build a cohort from", tables.admissions);

  store::Transaction transaction(db);
  db.prepare("DELETE FROM cohort_patients WHERE source = ?").bind(1, source_name(summary.source)).run();
  auto insert = db.prepare(
      "INSERT INTO cohort_patients (source, subject_id, rank, n_admissions, run_id) VALUES (?, ?, ?, ?, ?)");
  for (const auto& patient : summary.patients) {
    insert.bind_all(source_name(summary.source), patient.subject_id, patient.rank, patient.n_admissions,
                    options.run_id);
    insert.run();
  }
  // The CSV is renamed into place before the store commits, so that neither is ever newer than the other
  // on success; a failed commit leaves a CSV of the cohort that was asked for, which a re-run rewrites.
  if (options.csv) util::write_file_atomic(*options.csv, cohort_csv(summary));
  transaction.commit();
  return summary;
}

}  // namespace medcode::mimic
