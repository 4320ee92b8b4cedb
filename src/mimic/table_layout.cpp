// The layouts of the MIMIC-IV v2.2 (hosp, icu, MIMIC-IV-Note) and MIMIC-III v1.4 tables, as PhysioNet
// publishes them (https://mimic.mit.edu/docs/iv/modules/, https://mimic.mit.edu/docs/iii/tables/).
// Identifier columns are integers and measurements reals wherever they occur; a table lists only the
// exceptions. Columns a layout does not know are imported as text, so newer releases still load.
#include "medcode/mimic/table_layout.h"

#include <algorithm>
#include <array>

#include "medcode/util/text.h"

namespace medcode::mimic {

namespace {

// Identifier and count columns: integers in every table that has them.
constexpr std::array<std::string_view, 45> k_integer_columns = {
    "subject_id",
    "hadm_id",
    "stay_id",
    "icustay_id",
    "row_id",
    "itemid",
    "caregiver_id",
    "cgid",
    "labevent_id",
    "specimen_id",
    "microevent_id",
    "micro_specimen_id",
    "spec_itemid",
    "test_itemid",
    "org_itemid",
    "ab_itemid",
    "isolate_num",
    "test_seq",
    "transfer_id",
    "seq_num",
    "icd_version",
    "anchor_age",
    "anchor_year",
    "emar_seq",
    "poe_seq",
    "pharmacy_id",
    "note_seq",
    "orderid",
    "linkorderid",
    "hospital_expire_flag",
    "has_chartevents_data",
    "expire_flag",
    "first_wardid",
    "last_wardid",
    "field_ordinal",
    "drg_severity",
    "drg_mortality",
    "warning",
    "error",
    "iserror",
    "isopenbag",
    "continueinnextdept",
    "cancelreason",
    "curr_wardid",
    "prev_wardid",
};

// Measurement columns: reals in every table that has them.
constexpr std::array<std::string_view, 15> k_real_columns = {
    "valuenum",
    "ref_range_lower",
    "ref_range_upper",
    "los",
    "amount",
    "rate",
    "patientweight",
    "totalamount",
    "originalamount",
    "originalrate",
    "dilution_value",
    "lownormalvalue",
    "highnormalvalue",
    "doses_per_24_hrs",
    "parent_field_ordinal",
};

using S = Source;

const std::vector<TableLayout>& mimic_iv_layouts() {
  static const std::vector<TableLayout> layouts = {
      {S::mimic_iv, "hosp", "patients", "", "subject_id gender anchor_age anchor_year", {"!subject_id"}},
      {S::mimic_iv,
       "hosp",
       "admissions",
       "",
       "subject_id hadm_id admittime dischtime",
       {"!hadm_id", "subject_id"}},
      {S::mimic_iv,
       "hosp",
       "d_icd_diagnoses",
       "",
       "icd_code icd_version long_title",
       {"!icd_code,icd_version"}},
      {S::mimic_iv,
       "hosp",
       "d_icd_procedures",
       "",
       "icd_code icd_version long_title",
       {"!icd_code,icd_version"}},
      {S::mimic_iv, "hosp", "d_labitems", "", "itemid label", {"!itemid"}},
      {S::mimic_iv, "hosp", "d_hcpcs", "", "code", {"code"}},
      {S::mimic_iv, "hosp", "provider", "", "provider_id", {}},
      {S::mimic_iv,
       "hosp",
       "diagnoses_icd",
       "",
       "subject_id hadm_id seq_num icd_code icd_version",
       {"hadm_id", "subject_id"}},
      {S::mimic_iv,
       "hosp",
       "procedures_icd",
       "",
       "subject_id hadm_id seq_num icd_code icd_version",
       {"hadm_id", "subject_id"}},
      {S::mimic_iv, "hosp", "drgcodes", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iv, "hosp", "hcpcsevents", "", "hadm_id hcpcs_cd", {"hadm_id"}},
      {S::mimic_iv, "hosp", "services", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iv, "hosp", "transfers", "", "subject_id hadm_id", {"hadm_id"}},
      {S::mimic_iv, "hosp", "omr", "", "subject_id", {"subject_id"}},
      {S::mimic_iv, "hosp", "labevents", "", "subject_id hadm_id itemid charttime", {"hadm_id"}},
      {S::mimic_iv, "hosp", "microbiologyevents", "", "subject_id hadm_id", {"hadm_id"}},
      {S::mimic_iv, "hosp", "emar", "", "subject_id hadm_id emar_id charttime", {"hadm_id"}},
      {S::mimic_iv, "hosp", "emar_detail", "", "emar_id", {"emar_id"}},
      {S::mimic_iv, "hosp", "pharmacy", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iv, "hosp", "poe", "", "poe_id hadm_id", {"hadm_id"}},
      {S::mimic_iv, "hosp", "poe_detail", "", "poe_id", {"poe_id"}},
      {S::mimic_iv, "hosp", "prescriptions", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iv, "icu", "icustays", "", "subject_id hadm_id stay_id intime", {"!stay_id", "hadm_id"}},
      {S::mimic_iv, "icu", "d_items", "", "itemid label", {"!itemid"}},
      {S::mimic_iv, "icu", "caregiver", "", "caregiver_id", {}},
      {S::mimic_iv, "icu", "chartevents", "", "stay_id itemid", {"stay_id"}},
      {S::mimic_iv, "icu", "datetimeevents", "", "stay_id itemid", {"stay_id"}},
      {S::mimic_iv, "icu", "inputevents", "", "stay_id itemid", {"stay_id"}},
      {S::mimic_iv, "icu", "ingredientevents", "", "stay_id itemid", {"stay_id"}},
      {S::mimic_iv, "icu", "outputevents", "value:r", "stay_id itemid", {"stay_id"}},
      {S::mimic_iv, "icu", "procedureevents", "value:r", "stay_id itemid", {"stay_id"}},
      {S::mimic_iv,
       "note",
       "discharge",
       "",
       "note_id subject_id hadm_id text",
       {"!note_id", "hadm_id", "subject_id"}},
      {S::mimic_iv, "note", "discharge_detail", "", "note_id field_name field_value", {"note_id"}},
      {S::mimic_iv,
       "note",
       "radiology",
       "",
       "note_id subject_id hadm_id text",
       {"!note_id", "hadm_id", "subject_id"}},
      {S::mimic_iv, "note", "radiology_detail", "", "note_id field_name field_value", {"note_id"}},
  };
  return layouts;
}

const std::vector<TableLayout>& mimic_iii_layouts() {
  static const std::vector<TableLayout> layouts = {
      {S::mimic_iii, "", "patients", "", "subject_id gender dob", {"!subject_id"}},
      {S::mimic_iii,
       "",
       "admissions",
       "",
       "subject_id hadm_id admittime dischtime",
       {"!hadm_id", "subject_id"}},
      {S::mimic_iii, "", "d_icd_diagnoses", "", "icd9_code long_title", {"icd9_code"}},
      {S::mimic_iii, "", "d_icd_procedures", "", "icd9_code long_title", {"icd9_code"}},
      {S::mimic_iii, "", "d_labitems", "", "itemid label", {"!itemid"}},
      {S::mimic_iii, "", "d_items", "", "itemid label", {"!itemid"}},
      {S::mimic_iii, "", "d_cpt", "", "", {}},
      {S::mimic_iii, "", "caregivers", "", "cgid", {"!cgid"}},
      {S::mimic_iii,
       "",
       "diagnoses_icd",
       "",
       "subject_id hadm_id seq_num icd9_code",
       {"hadm_id", "subject_id"}},
      {S::mimic_iii,
       "",
       "procedures_icd",
       "",
       "subject_id hadm_id seq_num icd9_code",
       {"hadm_id", "subject_id"}},
      {S::mimic_iii, "", "drgcodes", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iii, "", "cptevents", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iii, "", "services", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iii, "", "transfers", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iii, "", "callout", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iii, "", "icustays", "", "subject_id hadm_id icustay_id", {"!icustay_id", "hadm_id"}},
      {S::mimic_iii, "", "labevents", "", "subject_id hadm_id itemid charttime", {"hadm_id"}},
      {S::mimic_iii, "", "microbiologyevents", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iii, "", "prescriptions", "", "hadm_id", {"hadm_id"}},
      {S::mimic_iii, "", "noteevents", "", "subject_id hadm_id category text", {"hadm_id", "subject_id"}},
      {S::mimic_iii, "", "chartevents", "", "icustay_id itemid", {"icustay_id"}},
      {S::mimic_iii, "", "datetimeevents", "", "icustay_id itemid", {"icustay_id"}},
      {S::mimic_iii, "", "inputevents_cv", "", "icustay_id itemid", {"icustay_id"}},
      {S::mimic_iii, "", "inputevents_mv", "", "icustay_id itemid", {"icustay_id"}},
      {S::mimic_iii, "", "outputevents", "value:r", "icustay_id itemid", {"icustay_id"}},
      {S::mimic_iii, "", "procedureevents_mv", "value:r", "icustay_id itemid", {"icustay_id"}},
  };
  return layouts;
}

}  // namespace

std::string_view source_name(Source source) { return source == Source::mimic_iv ? "mimic-iv" : "mimic-iii"; }

std::optional<Source> parse_source(std::string_view text) {
  std::string lower = util::to_lower(text);
  if (lower == "mimic-iv" || lower == "mimic4" || lower == "iv") return Source::mimic_iv;
  if (lower == "mimic-iii" || lower == "mimic3" || lower == "iii") return Source::mimic_iii;
  return std::nullopt;
}

std::span<const TableLayout> table_layouts(Source source) {
  return source == Source::mimic_iv ? mimic_iv_layouts() : mimic_iii_layouts();
}

const TableLayout* find_table_layout(Source source, std::string_view name) {
  std::string lower = util::to_lower(name);
  for (const auto& layout : table_layouts(source)) {
    if (lower == layout.name) return &layout;
    if (!layout.module.empty() && lower == std::string(layout.module) + "/" + std::string(layout.name))
      return &layout;
  }
  return nullptr;
}

std::string store_table_name(const TableLayout& layout) {
  return std::string(layout.source == Source::mimic_iv ? "mimic4_" : "mimic3_") + std::string(layout.name);
}

std::string published_name(const TableLayout& layout) {
  if (layout.source == Source::mimic_iii) return util::to_upper(layout.name);
  return std::string(layout.module) + "/" + std::string(layout.name);
}

ColumnType column_type(const TableLayout& layout, std::string_view column) {
  for (std::string_view typed : util::split_whitespace(layout.typed_columns)) {
    auto colon = typed.find(':');
    if (typed.substr(0, colon) == column)
      return typed.substr(colon + 1) == "i" ? ColumnType::integer : ColumnType::real;
  }
  if (std::find(k_integer_columns.begin(), k_integer_columns.end(), column) != k_integer_columns.end())
    return ColumnType::integer;
  if (std::find(k_real_columns.begin(), k_real_columns.end(), column) != k_real_columns.end())
    return ColumnType::real;
  return ColumnType::text;
}

}  // namespace medcode::mimic
