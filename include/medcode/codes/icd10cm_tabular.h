// Reader of the ICD-10-CM Tabular List XML (icd10cm_tabular_YYYY.xml, CMS/NCHS): chapters, sections, every
// diag with its notes, and the billable codes made by expanding inherited 7th characters.
// Format: the schema icd10cm_tabular_YYYY.xsd published with the files ("ICD-10-CM Tabular List of Diseases
// and Injuries"); 7th-character rules follow the Official Guidelines, section I.B.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/code_group.h"

namespace medcode::codes {

struct TabularNote {
  std::string owner;  // canonical code, "chapter:N" or "section:A00-A09"
  std::string kind;   // inclusion_term, includes, excludes1, excludes2, code_first, use_additional_code,
                      // code_also, note, seventh_character_note
  int seq = 0;        // order within the owner
  std::string text;
};

struct TabularCode {
  std::string code;  // canonical, dotted
  std::optional<std::string> parent;
  std::string chapter;
  std::string section;
  std::string description;
  bool billable = false;
  bool placeholder = false;  // the code holds an X placeholder
  std::optional<std::string> seventh_char;
  std::optional<std::string> seventh_meaning;
};

struct SeventhCharacter {
  std::string owner;  // the diag that declares the sevenChrDef
  std::string character;
  std::string meaning;
};

struct Tabular {
  std::optional<int> year;  // from <version>
  std::vector<GroupRow> groups;
  std::vector<TabularCode> codes;  // in tabular order, expanded codes right after their base
  std::vector<TabularNote> notes;
  std::vector<SeventhCharacter> seventh_characters;
  int n_diags = 0;                       // diag elements read
  int n_seventh_excluded = 0;            // 7th-character codes not generated because a note forbids them
};

// Parses the tabular XML held in `xml` (modified in place for speed). `source` names the file in errors,
// which are Error(bad_input) with the line number.
Tabular parse_icd10cm_tabular(std::string& xml, std::string_view source);

}  // namespace medcode::codes
