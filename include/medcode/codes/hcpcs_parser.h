// Reader of the HCPCS Level II annual file (HCPCYYYY_CONTR_ANWEB.txt, CMS): 320-column fixed-width records,
// codes and modifiers, long descriptions continued over several records. Layout: "HCPCS Contractor Record"
// (HCPCSYYYY_recordlayout.txt, distributed with the file).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::codes {

struct HcpcsEntry {
  std::string code;  // 5 characters, or 2 for a modifier
  bool modifier = false;
  std::string description;  // long description, continuation records joined in sequence order
  std::string short_description;
  std::string action_code;       // A added, B/C/F/P/S/T changed, D discontinued, N no change, R reactivated
  std::string termination_date;  // ISO yyyy-mm-dd, empty when the code is in force
  // Every other field of the layout that is present: dates as ISO yyyy-mm-dd, fields that the layout lets
  // occur several times (pricing indicators, manual sections, lab certifications, cross references, types of
  // service) as arrays, the anesthesia base units as a number.
  nlohmann::json attributes = nlohmann::json::object();
  std::size_t line = 0;  // of the first record
};

struct HcpcsReadOptions {
  // An optional field that does not parse, or a record longer than the layout, is an error instead of a
  // warning.
  bool strict = false;
};

struct HcpcsAnnualFile {
  std::vector<HcpcsEntry> entries;
  // One per record that bends the layout, in file order, each naming the file, line and code: an optional
  // field (date, number) that does not parse and was kept empty, a record longer than the layout.
  std::vector<std::string> warnings;
  std::int64_t n_fields_dropped = 0;
  std::int64_t n_records_too_long = 0;
};

// Records start at the first line that has the record shape; everything before (the disclaimer) is skipped.
// Bytes are Windows-1252 unless the whole text is valid UTF-8. Errors are Error(bad_input) naming the file
// and line: a line after the first record that is not a record, a record shorter than the layout, an unknown
// record identification code, a malformed code, a code given twice, a continuation without its first record;
// under options.strict also an optional field that does not parse and a record longer than the layout.
HcpcsAnnualFile parse_hcpcs_annual_file(std::string_view text, std::string_view source,
                                        const HcpcsReadOptions& options = {});

// True when one of the first lines of the text has the shape of an annual-file record.
bool looks_like_hcpcs_annual_file(std::string_view text);

}  // namespace medcode::codes
