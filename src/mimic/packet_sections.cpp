// The packet's sections per source, and the queries that read them: each row comes out of SQLite as one
// json_object(...), so column types (integer, real, text, null) carry over as the import stored them.
#include "packet_sections.h"

#include <fmt/format.h>

#include <algorithm>

#include "medcode/mimic/import.h"

namespace medcode::mimic::packet_detail {

namespace {

std::string quoted(const std::string& identifier) {
  std::string out = "\"";
  for (char c : identifier) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

std::string sql_string(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

// "'key', expr, ..." for json_object().
std::string json_pairs(const std::vector<std::pair<std::string, std::string>>& columns) {
  std::string out;
  for (const auto& [key, expression] : columns) {
    if (!out.empty()) out += ", ";
    out += sql_string(key) + ", " + expression;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> section_columns(store::Database& db,
                                                                 const ListSection& section) {
  if (!section.columns.empty()) return section.columns;
  std::vector<std::pair<std::string, std::string>> columns;
  for (const auto& column : table_columns(db, section.table)) {
    if (column == "subject_id" || column == "hadm_id") continue;
    if (std::find(section.drop.begin(), section.drop.end(), column) != section.drop.end()) continue;
    columns.emplace_back(column, "t." + quoted(column));
  }
  return columns;
}

ListSection list_section(std::string name, std::string table, std::string order_by, std::string key,
                         std::optional<int> cap = std::nullopt) {
  ListSection section;
  section.name = std::move(name);
  section.table = std::move(table);
  section.order_by = std::move(order_by);
  section.key = std::move(key);
  section.cap = cap;
  return section;
}

SourceTables mimic_iv_tables(int row_cap_labs, int row_cap_radiology, int row_cap_emar) {
  SourceTables tables;
  tables.patients = "mimic4_patients";
  tables.demographics = {"gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"};
  tables.admissions = "mimic4_admissions";

  ListSection diagnoses =
      list_section("diagnoses", "mimic4_diagnoses_icd", "t.seq_num, t.icd_code", "seq_num");
  diagnoses.columns = {
      {"seq_num", "t.seq_num"}, {"icd_code", "t.icd_code"}, {"icd_version", "t.icd_version"}};
  diagnoses.dictionary = Dictionary{
      "mimic4_d_icd_diagnoses", "d.icd_code = t.icd_code AND d.icd_version = t.icd_version", {"long_title"}};
  ListSection procedures =
      list_section("procedures", "mimic4_procedures_icd", "t.seq_num, t.icd_code", "seq_num");
  procedures.columns = {{"seq_num", "t.seq_num"},
                        {"chartdate", "t.chartdate"},
                        {"icd_code", "t.icd_code"},
                        {"icd_version", "t.icd_version"}};
  procedures.dictionary = Dictionary{
      "mimic4_d_icd_procedures", "d.icd_code = t.icd_code AND d.icd_version = t.icd_version", {"long_title"}};
  ListSection labs = list_section("labs", "mimic4_labevents", "t.charttime, t.itemid, t.labevent_id",
                                  "labevent_id", row_cap_labs);
  labs.dictionary = Dictionary{"mimic4_d_labitems", "d.itemid = t.itemid", {"label", "fluid", "category"}};
  ListSection radiology =
      list_section("radiology", "mimic4_radiology", "t.charttime, t.note_id", "note_id", row_cap_radiology);
  ListSection emar = list_section("emar", "mimic4_emar", "t.charttime, t.emar_id", "emar_id", row_cap_emar);
  tables.sections = {diagnoses, procedures, labs, radiology, emar};

  tables.discharge_table = "mimic4_discharge";
  tables.discharge_order_by = "t.charttime, t.note_id";
  tables.discharge_key = "note_id";
  tables.discharge_time = "charttime";
  return tables;
}

SourceTables mimic_iii_tables(int row_cap_labs, int row_cap_radiology) {
  SourceTables tables;
  tables.patients = "mimic3_patients";
  tables.demographics = {"gender", "dob", "dod"};
  tables.admissions = "mimic3_admissions";

  // MIMIC-III's ICD codes are all ICD-9, in columns named for it.
  ListSection diagnoses = list_section("diagnoses", "mimic3_diagnoses_icd", "t.seq_num, t.row_id", "seq_num");
  diagnoses.columns = {{"seq_num", "t.seq_num"}, {"icd_code", "t.icd9_code"}, {"icd_version", "9"}};
  diagnoses.dictionary = Dictionary{"mimic3_d_icd_diagnoses", "d.icd9_code = t.icd9_code", {"long_title"}};
  ListSection procedures =
      list_section("procedures", "mimic3_procedures_icd", "t.seq_num, t.row_id", "seq_num");
  procedures.columns = {{"seq_num", "t.seq_num"}, {"icd_code", "t.icd9_code"}, {"icd_version", "9"}};
  procedures.dictionary = Dictionary{"mimic3_d_icd_procedures", "d.icd9_code = t.icd9_code", {"long_title"}};
  ListSection labs =
      list_section("labs", "mimic3_labevents", "t.charttime, t.itemid, t.row_id", "row_id", row_cap_labs);
  labs.dictionary = Dictionary{"mimic3_d_labitems", "d.itemid = t.itemid", {"label", "fluid", "category"}};
  // Radiology reports are NOTEEVENTS rows of that category; rows marked as errors are left out.
  ListSection radiology =
      list_section("radiology", "mimic3_noteevents", "coalesce(t.charttime, t.chartdate), t.row_id", "row_id",
                   row_cap_radiology);
  radiology.filter = "t.category = 'Radiology' AND (t.iserror IS NULL OR t.iserror <> 1)";
  radiology.drop = {"iserror", "cgid"};
  ListSection emar;
  emar.name = "emar";
  emar.note = "MIMIC-III has no eMAR table";
  emar.key = "emar_id";
  emar.cap = std::nullopt;
  tables.sections = {diagnoses, procedures, labs, radiology, emar};

  tables.discharge_table = "mimic3_noteevents";
  tables.discharge_filter = "t.category = 'Discharge summary' AND (t.iserror IS NULL OR t.iserror <> 1)";
  tables.discharge_order_by = "t.chartdate, t.row_id";
  tables.discharge_key = "row_id";
  tables.discharge_time = "chartdate";
  return tables;
}

}  // namespace

SourceTables source_tables(Source source, int row_cap_labs, int row_cap_radiology, int row_cap_emar) {
  return source == Source::mimic_iii ? mimic_iii_tables(row_cap_labs, row_cap_radiology)
                                     : mimic_iv_tables(row_cap_labs, row_cap_radiology, row_cap_emar);
}

std::vector<std::string> table_columns(store::Database& db, const std::string& table) {
  auto statement = db.prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid");
  statement.bind(1, table);
  std::vector<std::string> columns;
  while (statement.step()) columns.push_back(statement.column_text(0));
  return columns;
}

SectionRows read_section(store::Database& db, const ListSection& section, std::int64_t hadm_id) {
  SectionRows out;
  if (section.table.empty() || !has_table(db, section.table)) return out;
  std::string where = "t.hadm_id = ?" + (section.filter.empty() ? "" : " AND " + section.filter);

  auto count = db.prepare(fmt::format("SELECT count(*) FROM {} t WHERE {}", quoted(section.table), where));
  count.bind(1, hadm_id);
  count.step();
  out.total = count.column_int64(0);
  if (out.total == 0 || (section.cap && *section.cap == 0)) return out;

  std::vector<std::pair<std::string, std::string>> columns = section_columns(db, section);
  std::string join;
  if (section.dictionary) {
    bool present = has_table(db, section.dictionary->table);
    for (const auto& column : section.dictionary->columns) {
      columns.emplace_back(column, present ? "d." + quoted(column) : "NULL");
    }
    if (present)
      join = fmt::format(" LEFT JOIN {} d ON {}", quoted(section.dictionary->table), section.dictionary->on);
  }
  std::string sql = fmt::format("SELECT json_object({}) FROM {} t{} WHERE {} ORDER BY {}",
                                json_pairs(columns), quoted(section.table), join, where, section.order_by);
  if (section.cap) sql += " LIMIT ?";
  auto select = db.prepare(sql);
  select.bind(1, hadm_id);
  if (section.cap) select.bind(2, *section.cap);
  while (select.step()) out.rows.push_back(nlohmann::json::parse(select.column_text(0)));
  return out;
}

nlohmann::json read_row(store::Database& db, const std::string& table,
                        const std::vector<std::string>& columns, const std::string& key_column,
                        std::int64_t key) {
  std::vector<std::string> present = table_columns(db, table);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& column : columns) {
    if (std::find(present.begin(), present.end(), column) != present.end()) {
      pairs.emplace_back(column, "t." + quoted(column));
    }
  }
  if (pairs.empty()) return nlohmann::json::object();
  auto select = db.prepare(fmt::format("SELECT json_object({}) FROM {} t WHERE t.{} = ?", json_pairs(pairs),
                                       quoted(table), quoted(key_column)));
  select.bind(1, key);
  if (!select.step()) return nullptr;
  return nlohmann::json::parse(select.column_text(0));
}

}  // namespace medcode::mimic::packet_detail
