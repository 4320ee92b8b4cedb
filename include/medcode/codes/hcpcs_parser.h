// Reader of the HCPCS Level II annual file (HCPCYYYY_CONTR_ANWEB.txt, CMS): 320-column fixed-width records,
// codes and modifiers, long descriptions continued over several records. Layout: "HCPCS Contractor Record"
// (HCPCSYYYY_recordlayout.txt, distributed with the file).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace medcode::codes {

struct HcpcsEntry {
  std::string code;  // 5 characters, or 2 for a modifier
  bool modifier = false;
  std::string description;        // long description, continuation records joined
  std::string short_description;
  std::string action_code;        // A added, C changed, D discontinued, N no change, P payment, S short description, ...
  std::string termination_date;   // ISO yyyy-mm-dd, empty when the code is in force
  nlohmann::json attributes;      // every other field of the layout that is present
  std::size_t line = 0;
};

// Records start at the first line that has the record shape; everything before (the disclaimer) is skipped.
// Errors are Error(bad_input) naming the file and line: a record shorter than the layout, an unknown record
// identification code, a continuation without its first line.
std::vector<HcpcsEntry> parse_hcpcs_annual_file(std::string_view text, std::string_view source);

// True when some line of the text has the shape of an annual-file record.
bool looks_like_hcpcs_annual_file(std::string_view text);

}  // namespace medcode::codes
