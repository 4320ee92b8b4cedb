// CMS General Equivalence Mappings (GEMs) between ICD-9-CM and ICD-10-CM/PCS: reading the published text
// files.
//
// Layout, as CMS documents it ("General Equivalence Mappings: Documentation for Technical Users",
// GemsTechDoc, and the diagnosis and procedure GEM guides published with each year's files,
// https://www.cms.gov/Medicare/Coding/ICD10/2018-ICD-10-CM-and-GEMs.html and
// https://www.cms.gov/Medicare/Coding/ICD10/2018-ICD-10-PCS-and-GEMs.html): one entry a line, the source
// code, the target code and five flag digits separated by white space, codes without dots. The flags, left to
// right: approximate (0/1), no map (0/1), combination (0/1), scenario (0-9) and choice list (0-9). A no-map
// entry names the target NoDx (diagnoses) or NoPCS (procedures). A combination entry is one part of a
// multi-code translation: a scenario is one way to translate the source, and a complete translation takes one
// target from each choice list of that scenario.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::codes {

// The code sets a GEM maps between; the names are those of gem_mappings.source/target.
enum class GemCodeSet { icd9cm, icd9pcs, icd10cm, icd10pcs };

std::string_view gem_code_set_name(GemCodeSet set);          // "icd9cm"
std::string_view gem_code_set_display_name(GemCodeSet set);  // "ICD-9-CM"

// The stored form of a code of `set` written in any common form ("413.9", "e11.9", "00.66"): ICD-9 codes
// upper case without a dot, ICD-10-CM dotted after the third character, ICD-10-PCS as published. nullopt when
// the text cannot be a code of that set (it does not check that the code exists).
std::optional<std::string> gem_code(GemCodeSet set, std::string_view text);

struct GemDirection {
  GemCodeSet source = GemCodeSet::icd9cm;
  GemCodeSet target = GemCodeSet::icd10cm;
  bool operator==(const GemDirection&) const = default;
};

// The four directions CMS publishes: ICD-9-CM ↔ ICD-10-CM and ICD-9-CM procedures ↔ ICD-10-PCS.
inline constexpr GemDirection k_icd9cm_to_icd10cm{GemCodeSet::icd9cm, GemCodeSet::icd10cm};
inline constexpr GemDirection k_icd10cm_to_icd9cm{GemCodeSet::icd10cm, GemCodeSet::icd9cm};
inline constexpr GemDirection k_icd9pcs_to_icd10pcs{GemCodeSet::icd9pcs, GemCodeSet::icd10pcs};
inline constexpr GemDirection k_icd10pcs_to_icd9pcs{GemCodeSet::icd10pcs, GemCodeSet::icd9pcs};

std::string gem_direction_name(GemDirection direction);          // "icd9cm_to_icd10cm"
std::string gem_direction_display_name(GemDirection direction);  // "ICD-9-CM → ICD-10-CM"

// One line of a GEM file, codes in their stored form (see gem_code).
struct GemEntry {
  std::string source_code;
  std::optional<std::string> target_code;  // nullopt for a no-map entry
  bool approximate = false;
  bool no_map = false;
  bool combination = false;
  int scenario = 0;     // 0 unless combination
  int choice_list = 0;  // 0 unless combination
  std::size_t line = 0;
};

struct GemFile {
  GemDirection direction;
  std::vector<GemEntry> entries;
};

// True when the first non-blank line has the shape of a GEM entry (a code, a code or NoDx/NoPCS, five
// digits).
bool looks_like_gem_file(std::string_view text);

// Reads a GEM file. The direction and code sets are recognised from the codes: ICD-9-CM diagnoses are 3-5
// digits, V and 2-4 digits or E and 3-4 digits; ICD-9-CM procedures 3-4 digits; ICD-10-CM codes a letter, a
// digit and 1-5 letters or digits; ICD-10-PCS codes 7 letters (not I or O) and digits; the no-map target
// tells diagnoses (NoDx) from procedures (NoPCS). When the codes fit more than one direction equally well (a
// small file of codes that fit both shapes), the name `source` decides: I9I10/I9gem/i9pcs mean from ICD-9,
// I10I9/I10gem/pcsi9 to ICD-9, "pcs" procedures and any other GEM name diagnoses. Error(bad_input) naming
// "source:line" and the field at fault for a malformed line, and naming `source` when the direction cannot be
// told.
GemFile parse_gem_file(std::string_view text, std::string_view source);

}  // namespace medcode::codes
