// EHR packets: everything the store holds about one admission of a MIMIC patient (demographics, the
// admission, its codes, labs, radiology, medication administrations, discharge note) as one deterministic
// JSON document, with fixed row caps. docs/packets.md describes the format.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "medcode/mimic/table_layout.h"
#include "medcode/store/database.h"

namespace medcode::mimic {

// The version of the packet format, written into every packet as "format".
inline constexpr const char* k_packet_format = "medcode-ehr-packet/1";

struct PacketOptions {
  Source source = Source::mimic_iv;
  std::int64_t subject_id = 0;
  std::optional<std::int64_t> hadm_id;  // only this admission
  std::optional<int> max_admissions;    // the first N (by admittime) of those kept
  // false: admissions without a discharge note are skipped (and asking for one by hadm_id is an error).
  bool include_admissions_without_discharge = false;
  // The first N rows of each section in its documented order; the packet records how many were left out.
  int row_cap_labs = 200;
  int row_cap_radiology = 20;
  int row_cap_emar = 200;
};

struct Packet {
  std::int64_t subject_id = 0;
  std::int64_t hadm_id = 0;
  std::optional<std::string> admittime;
  nlohmann::json json;  // the packet document
};

// The packets of one subject, one per admission, sorted by admittime then hadm_id. Error(usage) for a
// negative row cap or max_admissions below 1; Error(bad_input) when the source's patients or admissions
// table is not imported, the subject is unknown, the hadm_id is not an admission of the subject, or the
// admission asked for has no discharge note (without include_admissions_without_discharge). A section whose
// table is not imported is empty, and the packet's "sources" says so.
std::vector<Packet> build_packets(store::Database& db, const PacketOptions& options);

// A note of the subject that none of a set of packets belongs to: its admission has no packet among them,
// or it names no admission at all.
struct UnlinkedNote {
  nlohmann::json note_id;                // MIMIC-IV note_id (text); MIMIC-III row_id (integer)
  std::optional<std::int64_t> hadm_id;   // none: the note names no admission
  std::optional<std::string> note_type;  // MIMIC-IV note_type (DS, RR, ...); MIMIC-III category
  std::optional<std::string> charttime;  // MIMIC-III: chartdate when charttime is empty
  std::int64_t text_length = 0;          // characters
  std::string table;                     // the note table it is in
  // no_hadm_id | admission_not_found (not an admission of the subject in the admissions table) |
  // admission_without_discharge_note (a packet needs one) | admission_not_selected (--hadm-id,
  // --max-admissions)
  std::string reason;
};

// The subject's notes (MIMIC-IV discharge and radiology notes; MIMIC-III notes of every category but those
// marked as errors) whose admission is not among `packet_hadm_ids`, ordered by charttime, table and key. A
// note table that is not imported has none. Reads only.
std::vector<UnlinkedNote> unlinked_notes(store::Database& db, Source source, std::int64_t subject_id,
                                         const std::vector<std::int64_t>& packet_hadm_ids);

// What fed a packet: per section, the tables read, how many rows the admission has there, how many the
// packet holds, and the keys of those rows (labevent_id, note_id, emar_id, seq_num). Read from the packet.
nlohmann::json packet_inputs(const nlohmann::json& packet);

}  // namespace medcode::mimic
