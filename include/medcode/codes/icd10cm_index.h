// Reader of the ICD-10-CM Alphabetic Index XML (icd10cm_index_YYYY.xml and the External Cause index,
// icd10cm_eindex_YYYY.xml; schema icd10cm_index_YYYY.xsd): a tree of terms leading to codes or to other terms.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::codes {

struct IndexTerm {
  int parent = -1;  // position of the enclosing term in Index::terms; -1 for a main term
  int level = 0;    // 0 for a main term
  std::string title;  // with nonessential modifiers, e.g. "Abasia (-astasia) (hysterical)"
  std::string path;   // "Abdomen, abdominal > acute"
  std::optional<std::string> code;  // canonical, without the trailing '-' or '.-' of an incomplete code
  bool code_incomplete = false;
  std::optional<std::string> manifestation_code;
  std::optional<std::string> see;       // <see>, or "category M01" for <seecat>, "subcategory H93.3" for <subcat>
  std::optional<std::string> see_also;
};

struct Index {
  std::optional<int> year;
  std::string title;  // "ICD-10-CM INDEX TO DISEASES and INJURIES"
  std::vector<IndexTerm> terms;  // depth first, parents before children
};

// Parses index XML held in `xml` (modified in place); errors are Error(bad_input) with the line number.
Index parse_icd10cm_index(std::string& xml, std::string_view source);

}  // namespace medcode::codes
