// Readers of the ICD-10-PCS plain-text files (CMS): the codes file (icd10pcs_codes_YYYY.txt: "CODE
// DESCRIPTION", every valid code) and the order file (icd10pcs_order_YYYY.txt: columns 1-5 order number, 7-13
// code, 15 header(0)/valid(1) flag, 17-76 short description, 78- long description; see
// icd10pcs_order_file.pdf).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace medcode::codes {

struct PcsEntry {
  std::string code;  // canonical: upper case, no dot (7 characters, or 3 to 6 for an order-file header)
  bool billable = true;
  std::string short_description;  // order file only
  std::string description;
  std::size_t line = 0;
};

enum class PcsFileKind { codes, order };

struct PcsFile {
  PcsFileKind kind = PcsFileKind::codes;
  std::vector<PcsEntry> entries;
};

// Bytes are Windows-1252 unless the whole text is valid UTF-8; order-file fields are cut by column before
// decoding. Errors are Error(bad_input) naming the file and line: an empty file, a line of the wrong shape,
// a code of the wrong shape, a missing description, a code given twice.
PcsFile parse_icd10pcs_file(std::string_view text, std::string_view source);
bool looks_like_icd10pcs_file(std::string_view text);
// The layout of a file that looks_like_icd10pcs_file, told by its first line.
PcsFileKind icd10pcs_file_kind(std::string_view text);

}  // namespace medcode::codes
