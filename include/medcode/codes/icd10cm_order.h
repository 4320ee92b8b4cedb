// Readers of the ICD-10-CM plain-text files: the order file (icd10cm_order_YYYY.txt: every code and header
// with its billable flag, short and long description, fixed width) and the code descriptions file
// (icd10cm_codes_YYYY.txt: billable codes and long descriptions). Layout: "ICD-10-CM order file format"
// (icd10cm_order_YYYY.pdf / the README distributed with the files): columns 1-5 order number, 7-13 code,
// 15 header(0)/billable(1) flag, 17-76 short description, 78- long description.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace medcode::codes {

struct OrderEntry {
  std::string code;  // canonical, dotted
  bool billable = true;
  std::string short_description;  // empty in a code descriptions file
  std::string description;
  std::size_t line = 0;
};

enum class OrderFileKind { order, code_descriptions };

struct OrderFile {
  OrderFileKind kind = OrderFileKind::order;
  std::vector<OrderEntry> entries;
};

// Tells the two layouts apart by the first line; Error(bad_input) naming file and line on a malformed line.
OrderFile parse_icd10cm_order_file(std::string_view text, std::string_view source);

// True when the first line looks like either layout (for recognising inputs by content).
bool looks_like_icd10cm_order_file(std::string_view text);

}  // namespace medcode::codes
