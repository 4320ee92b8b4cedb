// An Alphabetic Index as the readers give it (ICD-10-CM, ICD-10-PCS): a flat list of terms, each with its
// path from the main term, its code and its cross-references, and the writing of those terms into a release.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace medcode::codes {

class ReleaseWriter;

struct IndexTerm {
  int parent = -1;  // position of the enclosing term in Index::terms; -1 for a main term
  int level = 0;    // 0 for a main term
  std::string
      title;         // with nonessential modifiers, e.g. "Abasia (-astasia) (hysterical)"; may be empty (PCS)
  std::string path;  // "Abdomen, abdominal > acute"
  std::optional<std::string> code;  // canonical, without the trailing '-' or '.-' of an incomplete code
  bool code_incomplete = false;
  std::optional<std::string> manifestation_code;
  std::optional<std::string> see;  // <see>, or "category M01" for <seecat>, "subcategory H93.3" for <subcat>
  std::optional<std::string> see_also;
};

struct Index {
  std::optional<int> year;
  std::string title;             // "ICD-10-CM INDEX TO DISEASES and INJURIES"
  std::vector<IndexTerm> terms;  // depth first, parents before children
};

// Writes every term as an index_terms row of the writer's release, parents before children, and returns how
// many were written. The index is spent: its text moves into the rows.
std::size_t write_index_terms(ReleaseWriter& writer, Index& index);

}  // namespace medcode::codes
