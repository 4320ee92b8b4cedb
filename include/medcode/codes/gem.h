// CMS General Equivalence Mappings (GEMs) between ICD-9-CM and ICD-10-CM/PCS: reading the published text
// files and looking up, in the mappings imported into the store, what a code translates to.
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

#include "medcode/store/database.h"

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

// A target of a lookup, with the flags of its GEM entry.
struct GemTarget {
  std::string code;  // stored form (ICD-10-CM dotted)
  bool approximate = false;
  bool combination = false;
  int scenario = 0;
  int choice_list = 0;
};

enum class GemMappingKind { exact, approximate, combination };

// combination when the combination flag is set, else approximate when that flag is, else exact.
GemMappingKind gem_mapping_kind(const GemTarget& target);
std::string_view gem_mapping_kind_name(GemMappingKind kind);  // "exact", "approximate", "combination"

// Lookups in one direction of the imported GEMs, for one GEM year; statements are prepared once, so a caller
// mapping many codes keeps one object.
class GemLookup {
 public:
  // The year given, or the newest imported for the direction. Error(bad_input) when no GEM of the direction
  // (or none of that year) is imported, saying to run `medcode import gem`.
  GemLookup(store::Database& db, GemDirection direction, std::optional<int> year = std::nullopt);

  GemDirection direction() const { return m_direction; }
  int year() const { return m_year; }

  // What `code` (any common form, see gem_code) translates to, in file order:
  // - every target of its entries when none is a combination (each is an alternative on its own);
  // - when the code has combination entries, every target of its lowest scenario, ordered by choice list: one
  //   scenario is one complete translation, and a caller takes one target per choice list (the GEM lists
  //   alternatives within a list). Plain alternatives of such a code are left out, since the combination says
  //   more of what the source means.
  // Empty when the entry is a no map, or the code is not in the GEM (or not a code of the source set).
  std::vector<GemTarget> targets(std::string_view code);

 private:
  GemDirection m_direction;
  int m_year = 0;
  store::Statement m_select;
};

// One-off lookup of an ICD-9-CM diagnosis (procedure = false) or procedure code in the ICD-9 → ICD-10 GEM of
// `year` (else the newest imported); see GemLookup::targets.
std::vector<GemTarget> map_icd9_to_icd10(store::Database& db, std::string_view icd9_code, bool procedure,
                                         std::optional<int> year = std::nullopt);

}  // namespace medcode::codes
