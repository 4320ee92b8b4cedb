// Read-only lookups in imported code-set releases: which releases exist, a code's record, its place in the
// hierarchy, the instructional notes that apply to it (its own and inherited) and its 7th character.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/code_system.h"
#include "medcode/store/database.h"

namespace medcode::codes {

struct ReleaseInfo {
  std::int64_t id = 0;
  System system = System::icd10cm;
  int year = 0;
  std::string imported_at;
  std::int64_t n_codes = 0;
  std::int64_t n_billable = 0;
};

// "ICD-10-CM 2023"
std::string release_label(const ReleaseInfo& release);

// Every imported release, by system, then newest year first.
std::vector<ReleaseInfo> list_releases(store::Database& db);

// The release of `system` for `year`, or its newest when `year` is not given; nullopt when not imported.
std::optional<ReleaseInfo> try_find_release(store::Database& db, System system, std::optional<int> year);
// As try_find_release, but a missing release is Error(bad_input) saying which import command adds it; for
// CPT, which medcode does not ship, also that it is licensed and where it comes from (cpt_not_imported),
// naming `code` when one is given.
ReleaseInfo find_release(store::Database& db, System system, std::optional<int> year,
                         std::string_view code = {});

// Why there is no CPT to look `code` up in (any code when empty), in one line: CPT is licensed by the
// American Medical Association, medcode ships none of it, and `medcode import cpt` loads the AMA's files.
std::string cpt_not_imported(std::string_view code);

// The system to look `code` up in: `requested` when given; otherwise the system guessed from the code's shape
// if it has a release in `imported`, else another imported system whose shape the code fits, else the guess
// (ICD-10-CM when the shape says nothing).
System choose_system(std::string_view code, std::optional<System> requested,
                     const std::vector<ReleaseInfo>& imported);

// One row of `codes`.
struct CodeRecord {
  std::int64_t id = 0;
  std::string code;  // canonical
  std::string kind;  // code | modifier
  std::optional<std::string> parent;
  std::optional<std::string> chapter;
  std::optional<std::string> section;
  std::string description;
  std::optional<std::string> short_description;
  bool billable = false;
  bool placeholder = false;
  std::optional<std::string> seventh_char;
  std::optional<std::string> seventh_meaning;
  nlohmann::json attributes = nlohmann::json::object();
};

// A code named in a list: children, examples of billable codes below a header.
struct CodeBrief {
  std::string code;
  std::string description;
  bool billable = false;
  std::optional<std::string> seventh_char;
};

struct SeventhCharacter {
  std::string character;
  std::string meaning;
};

struct IndexEntry {
  std::string path;  // "Diabetes, diabetic (mellitus) (sugar) > type 2"
  std::string code;
  bool code_incomplete = false;
};

// Lookups in one release. Statements are prepared once, so a Catalog is cheap to ask many times.
class Catalog {
 public:
  Catalog(store::Database& db, ReleaseInfo release);

  const ReleaseInfo& release() const { return m_release; }

  // The code in canonical form, or nullopt when the release lacks it.
  std::optional<CodeRecord> find(std::string_view canonical);
  // The nearest existing code that `canonical` extends (E11.999 → E11.9), dropping characters from the end.
  std::optional<CodeRecord> nearest_existing_prefix(std::string_view canonical);
  // The code, its parent, its grandparent ... up to the top of the hierarchy.
  std::vector<CodeRecord> lineage(const CodeRecord& record);

  std::vector<CodeBrief> children(std::string_view code);
  // Billable codes at any depth below `code`, in code order.
  std::vector<CodeBrief> billable_descendants(std::string_view code);
  // Why an existing code is not billable, in a coder's words ("category with 13 child codes; more
  // characters needed (e.g. E11.00)", "needs a 7th character: A, D, S").
  std::string not_billable_reason(const CodeRecord& record);

  // Description of a chapter or section (kind "chapter" | "section").
  std::optional<std::string> group_description(std::string_view kind, std::string_view key);
  // Notes of an owner (a code, "chapter:19" or "section:S00-S09") in their printed order: (kind, text).
  std::vector<std::pair<std::string, std::string>> notes(std::string_view owner);
  // The sevenChrDef declared at `owner` exactly (not inherited).
  std::vector<SeventhCharacter> seventh_characters_declared(std::string_view owner);
  // Alphabetic Index terms that point at `code`: the first `limit`, and how many there are in all.
  std::pair<std::vector<IndexEntry>, std::int64_t> index_terms(std::string_view code, int limit);

 private:
  ReleaseInfo m_release;
  store::Statement m_find;
  store::Statement m_children;
  store::Statement m_descendants;
  store::Statement m_group;
  store::Statement m_notes;
  store::Statement m_seventh;
  store::Statement m_index_terms;
  store::Statement m_count_index_terms;
};

// Where an instructional note comes from, relative to the code shown.
struct CodeNote {
  std::string kind;  // inclusion_term, includes, excludes1, excludes2, code_first, use_additional_code,
                     // code_also, note, seventh_character_note
  std::string text;
  std::string owner;     // "S06", "chapter:19", "section:S00-S09"
  std::string relation;  // self | extends (the code a 7th-character code was made from) | ancestor | section
                         // | chapter
};

struct HierarchyEntry {
  std::string kind;  // chapter | section | code
  std::string key;   // "19", "S00-S09", "S06.0"
  std::string description;
};

struct SeventhCharacterDetails {
  std::optional<SeventhCharacter> own;       // the character of a code made by 7th-character expansion
  std::optional<std::string> extends;        // ... and the code it was made from
  std::optional<std::string> defined_at;     // the code whose sevenChrDef applies
  std::vector<SeventhCharacter> applicable;  // characters that complete this code or the codes below it
  bool required = false;                     // the code itself takes a 7th character to be billable
};

// Everything a coder wants to know about one code, as `codes show` prints it.
struct CodeDetails {
  ReleaseInfo release;
  CodeRecord record;
  std::vector<HierarchyEntry> hierarchy;  // chapter → section → category → ... → the code
  std::vector<CodeBrief> children;
  std::int64_t n_billable_descendants = 0;
  std::vector<CodeBrief> billable_examples;  // the first few billable codes below a header
  std::optional<std::string> not_billable_reason;
  std::vector<CodeNote> notes;  // the code's own first, then each ancestor's nearest first, section, chapter
  SeventhCharacterDetails seventh;
  std::vector<IndexEntry> index_terms;  // a few; for a 7th-character code, those of the code it extends too
  std::int64_t n_index_terms = 0;
};

// Looks up `text` (any common form) in the catalog's release. Error(bad_input) when the text is not a
// well-formed code of the system, or when the release lacks it (naming the nearest existing code).
CodeDetails describe_code(Catalog& catalog, std::string_view text);

nlohmann::json to_json(const ReleaseInfo& release);
nlohmann::json to_json(const CodeBrief& brief);
nlohmann::json to_json(const CodeDetails& details);

}  // namespace medcode::codes
