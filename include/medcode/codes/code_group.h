// A grouping above the codes of a release: an ICD-10-CM chapter or section, a PCS section, an HCPCS range.
#pragma once

#include <optional>
#include <string>

namespace medcode::codes {

struct GroupRow {
  std::string kind;  // chapter | section
  std::string key;   // chapter number '19', section id 'S00-S09', PCS section '0', HCPCS letter 'A'
  std::optional<std::string> parent_key;
  std::string description;
  std::optional<std::string> first_code;
  std::optional<std::string> last_code;
};

}  // namespace medcode::codes
