// Building EHR packets: the subject's admissions in order, the ones kept, and for each the sections read
// from the imported tables, with row caps and a record of what was left out and which tables were absent.
#include "medcode/mimic/packet.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "medcode/mimic/import.h"
#include "medcode/util/error.h"
#include "packet_sections.h"

namespace medcode::mimic {

namespace {

using packet_detail::ListSection;
using packet_detail::SourceTables;

struct Admission {
  std::int64_t hadm_id = 0;
  std::optional<std::string> admittime;
};

void check_options(const PacketOptions& options) {
  for (auto [flag, value] : {std::pair{"--row-cap-labs", options.row_cap_labs},
                             std::pair{"--row-cap-radiology", options.row_cap_radiology},
                             std::pair{"--row-cap-emar", options.row_cap_emar}}) {
    if (value < 0) fail(ExitCode::usage, "{} {}: a row cap cannot be negative", flag, value);
  }
  if (options.max_admissions && *options.max_admissions < 1) {
    fail(ExitCode::usage, "--max-admissions {}: must be at least 1", *options.max_admissions);
  }
}

void require_table(store::Database& db, const std::string& table, Source source) {
  if (!has_table(db, table)) {
    fail(ExitCode::bad_input,
         "the store has no {} table: import the {} release first (`medcode import {} DIR`)", table,
         source_name(source), source_name(source));
  }
}

std::vector<Admission> subject_admissions(store::Database& db, const SourceTables& tables,
                                          std::int64_t subject_id) {
  auto select = db.prepare(
      fmt::format("SELECT hadm_id, admittime FROM \"{}\" WHERE subject_id = ? ORDER BY admittime, hadm_id",
                  tables.admissions));
  select.bind(1, subject_id);
  std::vector<Admission> admissions;
  while (select.step()) admissions.push_back({select.column_int64(0), select.column_optional_text(1)});
  return admissions;
}

// The discharge note of an admission: {"note_ids": [...], "charttime", "text"}, the texts of several notes
// joined by a blank line in their order; null when it has none (or the note table is not imported).
nlohmann::json discharge_note(store::Database& db, const SourceTables& tables, std::int64_t hadm_id) {
  if (!has_table(db, tables.discharge_table)) return nullptr;
  std::string filter = tables.discharge_filter.empty() ? "" : " AND " + tables.discharge_filter;
  auto select =
      db.prepare(fmt::format("SELECT json_object('id', t.\"{}\", 'time', t.\"{}\"), t.text FROM \"{}\" t "
                             "WHERE t.hadm_id = ?{} ORDER BY {}",
                             tables.discharge_key, tables.discharge_time, tables.discharge_table, filter,
                             tables.discharge_order_by));
  select.bind(1, hadm_id);
  nlohmann::json note_ids = nlohmann::json::array();
  nlohmann::json time = nullptr;
  std::string text;
  while (select.step()) {
    auto head = nlohmann::json::parse(select.column_text(0));
    note_ids.push_back(head["id"]);
    if (time.is_null()) time = head["time"];
    if (!text.empty()) text += "\n\n";
    text += select.column_optional_text(1).value_or("");
  }
  if (note_ids.empty()) return nullptr;
  return {{"note_ids", note_ids}, {tables.discharge_time, time}, {"text", text}};
}

nlohmann::json section_sources(store::Database& db, const ListSection& section) {
  nlohmann::json tables = nlohmann::json::array();
  nlohmann::json absent = nlohmann::json::array();
  auto add = [&](const std::string& table) { (has_table(db, table) ? tables : absent).push_back(table); };
  if (!section.table.empty()) add(section.table);
  if (section.dictionary) add(section.dictionary->table);
  nlohmann::json out = {{"tables", tables}, {"absent", absent}, {"key", section.key}};
  if (!section.note.empty()) out["note"] = section.note;
  return out;
}

nlohmann::json table_sources(store::Database& db, const std::string& table, const std::string& key) {
  bool present = has_table(db, table);
  return {{"tables", present ? nlohmann::json::array({table}) : nlohmann::json::array()},
          {"absent", present ? nlohmann::json::array() : nlohmann::json::array({table})},
          {"key", key}};
}

Packet make_packet(store::Database& db, const PacketOptions& options, const SourceTables& tables,
                   const Admission& admission, nlohmann::json discharge) {
  Packet packet;
  packet.subject_id = options.subject_id;
  packet.hadm_id = admission.hadm_id;
  packet.admittime = admission.admittime;
  nlohmann::json& json = packet.json;
  json["format"] = k_packet_format;
  json["source"] = source_name(options.source);
  json["subject_id"] = options.subject_id;
  json["hadm_id"] = admission.hadm_id;
  json["demographics"] =
      packet_detail::read_row(db, tables.patients, tables.demographics, "subject_id", options.subject_id);
  nlohmann::json row =
      packet_detail::read_row(db, tables.admissions, packet_detail::table_columns(db, tables.admissions),
                              "hadm_id", admission.hadm_id);
  for (const char* redundant : {"subject_id", "hadm_id", "row_id"}) row.erase(redundant);
  json["admission"] = row;

  nlohmann::json counts = nlohmann::json::object();
  nlohmann::json sources = {
      {"demographics", table_sources(db, tables.patients, "subject_id")},
      {"admission", table_sources(db, tables.admissions, "hadm_id")},
      {"discharge_note", table_sources(db, tables.discharge_table, tables.discharge_key)}};
  for (const auto& section : tables.sections) {
    packet_detail::SectionRows rows = packet_detail::read_section(db, section, admission.hadm_id);
    auto included = static_cast<std::int64_t>(rows.rows.size());
    counts[section.name] = {{"total", rows.total},
                            {"included", included},
                            {"left_out", rows.total - included},
                            {"cap", section.cap ? nlohmann::json(*section.cap) : nlohmann::json(nullptr)}};
    sources[section.name] = section_sources(db, section);
    json[section.name] = std::move(rows.rows);
  }
  json["discharge_note"] = std::move(discharge);
  json["row_counts"] = counts;
  json["sources"] = sources;
  return packet;
}

}  // namespace

std::vector<Packet> build_packets(store::Database& db, const PacketOptions& options) {
  check_options(options);
  SourceTables tables = packet_detail::source_tables(options.source, options.row_cap_labs,
                                                     options.row_cap_radiology, options.row_cap_emar);
  require_table(db, tables.patients, options.source);
  require_table(db, tables.admissions, options.source);
  if (packet_detail::read_row(db, tables.patients, {"subject_id"}, "subject_id", options.subject_id)
          .is_null()) {
    fail(ExitCode::bad_input, "subject {} is not in {} (the imported {} patients)", options.subject_id,
         tables.patients, source_name(options.source));
  }
  std::vector<Admission> admissions = subject_admissions(db, tables, options.subject_id);
  if (options.hadm_id) {
    std::erase_if(admissions,
                  [&](const Admission& admission) { return admission.hadm_id != *options.hadm_id; });
    if (admissions.empty()) {
      fail(ExitCode::bad_input, "admission {} is not an admission of subject {} in {}", *options.hadm_id,
           options.subject_id, tables.admissions);
    }
  }

  std::vector<Packet> packets;
  for (const auto& admission : admissions) {
    if (options.max_admissions && static_cast<int>(packets.size()) >= *options.max_admissions) break;
    nlohmann::json discharge = discharge_note(db, tables, admission.hadm_id);
    if (discharge.is_null() && !options.include_admissions_without_discharge) {
      if (options.hadm_id) {
        fail(ExitCode::bad_input,
             "admission {} of subject {} has no discharge note in {}; pass "
             "--include-admissions-without-discharge "
             "to build its packet anyway",
             admission.hadm_id, options.subject_id, tables.discharge_table);
      }
      continue;
    }
    packets.push_back(make_packet(db, options, tables, admission, std::move(discharge)));
  }
  return packets;
}

namespace {

// A table of notes and how its columns read: the key, the note's type and time, and the rows that count.
struct NoteTable {
  std::string table;
  std::string key;
  std::string type;
  std::vector<std::string> time;  // the first that is set
  std::string filter;             // on `t`; empty: every row
};

std::vector<NoteTable> note_tables(Source source) {
  if (source == Source::mimic_iii) {
    return {{"mimic3_noteevents",
             "row_id",
             "category",
             {"charttime", "chartdate"},
             "(t.iserror IS NULL OR t.iserror <> 1)"}};
  }
  return {{"mimic4_discharge", "note_id", "note_type", {"charttime"}, ""},
          {"mimic4_radiology", "note_id", "note_type", {"charttime"}, ""}};
}

// The SQL of a note table's column, or NULL where the imported file lacked it.
std::string column_or_null(const std::vector<std::string>& columns, const std::string& name) {
  bool present = std::find(columns.begin(), columns.end(), name) != columns.end();
  return present ? fmt::format("t.\"{}\"", name) : "NULL";
}

std::vector<UnlinkedNote> notes_of_subject(store::Database& db, const NoteTable& notes,
                                           std::int64_t subject_id) {
  if (!has_table(db, notes.table)) return {};
  std::vector<std::string> columns = packet_detail::table_columns(db, notes.table);
  std::string time = "NULL";
  for (auto it = notes.time.rbegin(); it != notes.time.rend(); ++it)
    time = fmt::format("coalesce(nullif({}, ''), {})", column_or_null(columns, *it), time);
  auto select = db.prepare(fmt::format(
      "SELECT json_object('id', t.\"{}\"), t.hadm_id, {}, {}, coalesce(length(t.text), 0) FROM \"{}\" t "
      "WHERE t.subject_id = ?{}",
      notes.key, column_or_null(columns, notes.type), time, notes.table,
      notes.filter.empty() ? "" : " AND " + notes.filter));
  select.bind(1, subject_id);
  std::vector<UnlinkedNote> found;
  while (select.step()) {
    UnlinkedNote note;
    note.note_id = nlohmann::json::parse(select.column_text(0))["id"];
    if (!select.column_is_null(1)) note.hadm_id = select.column_int64(1);
    note.note_type = select.column_optional_text(2);
    note.charttime = select.column_optional_text(3);
    note.text_length = select.column_int64(4);
    note.table = notes.table;
    found.push_back(std::move(note));
  }
  return found;
}

}  // namespace

std::vector<UnlinkedNote> unlinked_notes(store::Database& db, Source source, std::int64_t subject_id,
                                         const std::vector<std::int64_t>& packet_hadm_ids) {
  SourceTables tables = packet_detail::source_tables(source, 0, 0, 0);
  std::set<std::int64_t> in_packets(packet_hadm_ids.begin(), packet_hadm_ids.end());
  std::set<std::int64_t> admissions;
  if (has_table(db, tables.admissions)) {
    for (const Admission& admission : subject_admissions(db, tables, subject_id))
      admissions.insert(admission.hadm_id);
  }
  std::vector<UnlinkedNote> unlinked;
  for (const NoteTable& notes : note_tables(source)) {
    for (UnlinkedNote& note : notes_of_subject(db, notes, subject_id)) {
      if (note.hadm_id && in_packets.contains(*note.hadm_id)) continue;
      if (!note.hadm_id) {
        note.reason = "no_hadm_id";
      } else if (!admissions.contains(*note.hadm_id)) {
        note.reason = "admission_not_found";
      } else if (discharge_note(db, tables, *note.hadm_id).is_null()) {
        note.reason = "admission_without_discharge_note";
      } else {
        note.reason = "admission_not_selected";
      }
      unlinked.push_back(std::move(note));
    }
  }
  std::stable_sort(unlinked.begin(), unlinked.end(), [](const UnlinkedNote& a, const UnlinkedNote& b) {
    return std::tie(a.charttime, a.table) < std::tie(b.charttime, b.table) ||
           (std::tie(a.charttime, a.table) == std::tie(b.charttime, b.table) && a.note_id < b.note_id);
  });
  return unlinked;
}

nlohmann::json packet_inputs(const nlohmann::json& packet) {
  nlohmann::json inputs = nlohmann::json::object();
  const nlohmann::json& sources = packet.at("sources");
  for (const auto& [section, source] : sources.items()) {
    nlohmann::json entry = source;
    const std::string key = source.value("key", "");
    nlohmann::json keys = nlohmann::json::array();
    const nlohmann::json& content = packet.contains(section) ? packet.at(section) : nlohmann::json(nullptr);
    if (section == "demographics") {
      if (content.is_object()) keys.push_back(packet.at("subject_id"));
    } else if (section == "admission") {
      if (content.is_object()) keys.push_back(packet.at("hadm_id"));
    } else if (section == "discharge_note") {
      if (content.is_object()) keys = content.at("note_ids");
    } else if (content.is_array()) {
      for (const auto& row : content)
        keys.push_back(row.contains(key) ? row.at(key) : nlohmann::json(nullptr));
    }
    entry["rows_included"] = keys.size();
    entry["rows_total"] = packet.at("row_counts").contains(section)
                              ? packet.at("row_counts").at(section).at("total")
                              : nlohmann::json(keys.size());
    entry["keys"] = keys;
    inputs[section] = entry;
  }
  return inputs;
}

}  // namespace medcode::mimic
