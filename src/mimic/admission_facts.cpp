// `cohort facts`: picks patients (those with discharge notes first), assigns each to one split, and writes
// one fact per admission: its discharge note and its ICD-10 codes, validated against the release of the
// admission's year, with ICD-9 codes mapped through the GEMs on request.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "medcode/codes/catalog.h"
#include "medcode/codes/gem.h"
#include "medcode/mimic/cohort.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"
#include "source_tables.h"

namespace medcode::mimic {

namespace {

struct Patient {
  std::int64_t subject_id = 0;
  bool has_note = false;
  std::optional<int> year_shift;  // real year = shifted year + this (MIMIC-IV's anchor_year_group)
  std::string split;
};

struct FactCode {
  std::string kind;  // diagnosis | procedure
  std::optional<std::int64_t> seq_num;
  codes::System system = codes::System::icd10cm;
  std::string code;
  std::string source_code;
  int source_version = 10;
  std::string mapping;
  bool in_release = false;
};

// Patient ids in the order they are picked: with a discharge note first, then by cohort rank (or admission
// count), then id.
std::vector<Patient> pick_patients(store::Database& db, Source source, std::int64_t n, bool& from_cohort) {
  SourceTables tables = source_tables(source);
  std::string has_note = has_discharge_note_sql(db, tables, "a");
  auto count = db.prepare("SELECT count(*) FROM cohort_patients WHERE source = ?");
  count.bind(1, source_name(source));
  from_cohort = count.step() && count.column_int64(0) > 0;
  std::string sql;
  if (from_cohort) {
    sql = fmt::format(
        "SELECT c.subject_id, {} FROM cohort_patients c JOIN (SELECT DISTINCT subject_id FROM {}) a "
        "ON a.subject_id = c.subject_id WHERE c.source = ? ORDER BY 2 DESC, c.rank, c.subject_id LIMIT ?",
        has_note, tables.admissions);
  } else {
    sql = fmt::format(
        "SELECT a.subject_id, {} FROM {} a GROUP BY a.subject_id "
        "ORDER BY 2 DESC, count(*) DESC, a.subject_id LIMIT ?",
        has_note, tables.admissions);
  }
  auto query = db.prepare(sql);
  if (from_cohort) {
    query.bind_all(source_name(source), n);
  } else {
    query.bind(1, n);
  }
  std::vector<Patient> patients;
  while (query.step()) patients.push_back({query.column_int64(0), query.column_int64(1) != 0, {}, {}});
  return patients;
}

// MIMIC-IV shifts each patient's dates by a fixed number of years; anchor_year_group ("2014 - 2016") says
// which real years anchor_year stands for. The middle of the group is the estimate.
void read_year_shifts(store::Database& db, std::vector<Patient>& patients) {
  if (!has_table(db, "mimic4_patients")) return;
  auto query = db.prepare("SELECT anchor_year, anchor_year_group FROM mimic4_patients WHERE subject_id = ?");
  for (auto& patient : patients) {
    query.bind(1, patient.subject_id);
    if (query.step() && !query.column_is_null(0) && !query.column_is_null(1)) {
      std::string group = query.column_text(1);
      int first = std::atoi(group.c_str());
      if (first > 1900) patient.year_shift = first + 1 - static_cast<int>(query.column_int64(0));
    }
    query.reset();
  }
}

// 80/10/10 by patient: a seeded Fisher–Yates shuffle of the ids in order (its own, so every platform agrees).
void assign_splits(std::vector<Patient>& patients, std::uint64_t seed) {
  std::vector<std::size_t> order(patients.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return patients[a].subject_id < patients[b].subject_id; });
  std::mt19937_64 rng(seed);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  auto n = static_cast<double>(patients.size());
  auto n_train = static_cast<std::size_t>(std::lround(n * 0.8));
  auto n_val = static_cast<std::size_t>(std::lround(n * 0.1));
  for (std::size_t i = 0; i < order.size(); ++i) {
    patients[order[i]].split = i < n_train ? "train" : i < n_train + n_val ? "val" : "test";
  }
}

// The fiscal year of a date (October starts the next one): the ICD-10 release in force then.
std::optional<int> fiscal_year(const std::string& time, std::optional<int> year_shift) {
  if (time.size() < 7 || !year_shift) return std::nullopt;
  int year = std::atoi(time.substr(0, 4).c_str()) + *year_shift;
  int month = std::atoi(time.substr(5, 2).c_str());
  return month >= 10 ? year + 1 : year;
}

// The release of a system to validate an admission's codes with: the fiscal year's, else the nearest
// imported (the newer on a tie); the newest when the year is unknown.
class ReleaseChooser {
 public:
  ReleaseChooser(store::Database& db, codes::System system) : m_db(db) {
    for (const auto& release : codes::list_releases(db))
      if (release.system == system) m_releases.push_back(release);
  }
  bool empty() const { return m_releases.empty(); }

  codes::Catalog* catalog_for(std::optional<int> year) {
    if (m_releases.empty()) return nullptr;
    const codes::ReleaseInfo* best = &m_releases.front();  // newest first
    if (year) {
      for (const auto& release : m_releases)
        if (std::abs(release.year - *year) < std::abs(best->year - *year)) best = &release;
    }
    auto found = m_catalogs.find(best->year);
    if (found == m_catalogs.end()) found = m_catalogs.emplace(best->year, codes::Catalog(m_db, *best)).first;
    return &found->second;
  }

 private:
  store::Database& m_db;
  std::vector<codes::ReleaseInfo> m_releases;
  std::map<int, codes::Catalog> m_catalogs;
};

class FactBuilder {
 public:
  FactBuilder(store::Database& db, Source source, const FactsOptions& options, FactsSummary& summary)
      : m_db(db),
        m_tables(source_tables(source)),
        m_summary(summary),
        m_cm(db, codes::System::icd10cm),
        m_pcs(db, codes::System::icd10pcs) {
    if (m_cm.empty()) {
      fail(ExitCode::bad_input,
           "the store has no ICD-10-CM release to validate codes with: run `medcode fetch icd10cm` and "
           "`medcode import icd10cm` first");
    }
    if (m_pcs.empty())
      warn("the store has no ICD-10-PCS release: procedure codes are kept but marked as not in a release");
    if (options.map_icd9) open_gems(options.gem_year);
    m_diagnoses = prepare_codes(m_tables.diagnoses);
    m_procedures = prepare_codes(m_tables.procedures);
  }

  std::vector<FactCode> codes_of(std::int64_t hadm_id, std::optional<int> year) {
    std::vector<FactCode> result;
    std::set<std::string> seen;
    if (m_diagnoses) read_codes("diagnosis", *m_diagnoses, hadm_id, year, seen, result);
    if (m_procedures) read_codes("procedure", *m_procedures, hadm_id, year, seen, result);
    return result;
  }

  std::optional<int> release_year(std::optional<int> year) { return m_cm.catalog_for(year)->release().year; }

 private:
  void warn(const std::string& message) {
    spdlog::warn("{}", message);
    m_summary.warnings.push_back(message);
  }

  void open_gems(std::optional<int> year) {
    for (bool procedure : {false, true}) {
      try {
        auto& slot = procedure ? m_gem_procedures : m_gem_diagnoses;
        slot.emplace(m_db, procedure ? codes::k_icd9pcs_to_icd10pcs : codes::k_icd9cm_to_icd10cm, year);
      } catch (const Error&) {
        if (!procedure) throw;  // --map-icd9 without the diagnosis GEM cannot do what it was asked
        warn("no ICD-9-PCS to ICD-10-PCS GEM imported: ICD-9 procedure codes are left out");
      }
    }
  }

  // The codes of one admission in a diagnoses or procedures table; nullopt when the table is not imported.
  std::optional<store::Statement> prepare_codes(const std::string& table) {
    if (!has_table(m_db, table)) return std::nullopt;
    return m_db.prepare(fmt::format("SELECT seq_num, {}, {} FROM {} WHERE hadm_id = ? ORDER BY seq_num, {}",
                                    m_tables.icd_code, m_tables.icd_version, table, m_tables.icd_code));
  }

  void read_codes(const std::string& kind, store::Statement& query, std::int64_t hadm_id,
                  std::optional<int> year, std::set<std::string>& seen, std::vector<FactCode>& out) {
    query.bind(1, hadm_id);
    bool procedure = kind == "procedure";
    codes::System system = procedure ? codes::System::icd10pcs : codes::System::icd10cm;
    while (query.step()) {
      std::string source_code = std::string(util::trim(query.column_optional_text(1).value_or("")));
      if (source_code.empty()) continue;
      FactCode base{kind,     std::nullopt, system, "", source_code, static_cast<int>(query.column_int64(2)),
                    "direct", false};
      if (!query.column_is_null(0)) base.seq_num = query.column_int64(0);
      std::vector<FactCode> found;
      if (base.source_version == 10) {
        ++m_summary.icd10_codes;
        base.code = codes::canonical_code(system, source_code).value_or(util::to_upper(source_code));
        found.push_back(base);
      } else {
        found = map_icd9(base, procedure);
      }
      for (auto& code : found) {
        if (!seen.insert(std::string(codes::system_name(code.system)) + ":" + code.code).second) continue;
        codes::Catalog* catalog = (procedure ? m_pcs : m_cm).catalog_for(year);
        code.in_release = catalog != nullptr && catalog->find(code.code).has_value();
        if (!code.in_release) ++m_summary.not_in_release;
        ++(procedure ? m_summary.procedure_codes : m_summary.diagnosis_codes);
        out.push_back(std::move(code));
      }
    }
    query.reset();
  }

  // One code per choice list of the GEM's translation (the first alternative of each), so that an ICD-9 code
  // becomes as many ICD-10 codes as it takes to say the same, not every alternative.
  std::vector<FactCode> map_icd9(const FactCode& base, bool procedure) {
    auto& lookup = procedure ? m_gem_procedures : m_gem_diagnoses;
    if (!lookup) {
      ++m_summary.icd9_left_out;
      return {};
    }
    std::vector<codes::GemTarget> targets = lookup->targets(base.source_code);
    if (targets.empty()) {
      ++m_summary.icd9_no_map;
      return {};
    }
    ++m_summary.icd9_mapped;
    std::vector<FactCode> mapped;
    std::set<int> choice_lists;
    for (const auto& target : targets) {
      if (!choice_lists.insert(target.combination ? target.choice_list : 0).second) continue;
      FactCode code = base;
      code.code = target.code;
      code.mapping = std::string(codes::gem_mapping_kind_name(codes::gem_mapping_kind(target)));
      mapped.push_back(std::move(code));
    }
    return mapped;
  }

  store::Database& m_db;
  SourceTables m_tables;
  FactsSummary& m_summary;
  ReleaseChooser m_cm;
  ReleaseChooser m_pcs;
  std::optional<codes::GemLookup> m_gem_diagnoses;
  std::optional<codes::GemLookup> m_gem_procedures;
  std::optional<store::Statement> m_diagnoses;
  std::optional<store::Statement> m_procedures;
};

struct Note {
  std::optional<std::string> id;
  std::optional<std::string> text;
};

class NoteReader {
 public:
  NoteReader(store::Database& db, const SourceTables& tables) {
    if (!has_table(db, tables.notes)) return;
    m_query.emplace(db.prepare(
        fmt::format("SELECT {}, text FROM {} WHERE hadm_id = ? AND {} ORDER BY {} LIMIT 1", tables.note_id,
                    tables.notes, tables.discharge_filter, tables.discharge_order)));
  }
  Note discharge_note(std::int64_t hadm_id) {
    if (!m_query) return {};
    m_query->bind(1, hadm_id);
    Note note;
    if (m_query->step()) note = {m_query->column_optional_text(0), m_query->column_optional_text(1)};
    m_query->reset();
    return note;
  }

 private:
  std::optional<store::Statement> m_query;
};

}  // namespace

FactsSummary build_facts(store::Database& db, const FactsOptions& options) {
  if (options.num_samples < 1)
    fail(ExitCode::usage, "--num-samples must be at least 1 (got {})", options.num_samples);
  FactsSummary summary;
  summary.source = resolve_source(db, options.source);
  SourceTables tables = source_tables(summary.source);
  FactBuilder builder(db, summary.source, options, summary);
  std::vector<Patient> patients = pick_patients(db, summary.source, options.num_samples, summary.from_cohort);
  if (summary.source == Source::mimic_iv) read_year_shifts(db, patients);
  assign_splits(patients, options.seed);
  NoteReader notes(db, tables);

  store::Transaction transaction(db);
  db.prepare("DELETE FROM admission_facts WHERE source = ?").bind(1, source_name(summary.source)).run();
  auto admissions = db.prepare(
      fmt::format("SELECT hadm_id, admittime FROM {} WHERE subject_id = ? ORDER BY admittime, hadm_id",
                  tables.admissions));
  auto insert_fact = db.prepare(
      "INSERT INTO admission_facts (source, subject_id, hadm_id, admittime, real_year, release_year, "
      "note_id, "
      "note_text, split, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto insert_code = db.prepare(
      "INSERT INTO admission_fact_codes (fact_id, kind, seq_num, system, code, source_code, source_version, "
      "mapping, in_release) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  std::set<int> release_years;
  for (std::size_t i = 0; i < patients.size(); ++i) {
    const Patient& patient = patients[i];
    SplitCount& split = patient.split == "train" ? summary.train
                        : patient.split == "val" ? summary.val
                                                 : summary.test;
    ++split.patients;
    summary.patients_with_notes += patient.has_note;
    admissions.bind(1, patient.subject_id);
    while (admissions.step()) {
      std::int64_t hadm_id = admissions.column_int64(0);
      std::string admittime = admissions.column_optional_text(1).value_or("");
      std::optional<int> year = fiscal_year(admittime, patient.year_shift);
      std::optional<int> real_year;
      if (year && patient.year_shift) real_year = std::atoi(admittime.c_str()) + *patient.year_shift;
      int release_year = *builder.release_year(year);
      release_years.insert(release_year);
      Note note = notes.discharge_note(hadm_id);
      insert_fact.bind_all(source_name(summary.source), patient.subject_id, hadm_id, admittime, real_year,
                           release_year, note.id, note.text, patient.split, options.run_id);
      insert_fact.run();
      std::int64_t fact_id = db.last_insert_rowid();
      for (const auto& code : builder.codes_of(hadm_id, year)) {
        insert_code.bind_all(fact_id, code.kind, code.seq_num, codes::system_name(code.system), code.code,
                             code.source_code, code.source_version, code.mapping, code.in_release ? 1 : 0);
        insert_code.run();
      }
      ++summary.admissions;
      ++split.admissions;
      summary.admissions_with_notes += note.text.has_value();
    }
    admissions.reset();
    util::report(options.progress, "facts", i + 1, patients.size());
  }
  transaction.commit();
  summary.patients = static_cast<std::int64_t>(patients.size());
  for (int year : release_years) summary.releases.push_back(fmt::format("ICD-10-CM {}", year));
  return summary;
}

}  // namespace medcode::mimic
