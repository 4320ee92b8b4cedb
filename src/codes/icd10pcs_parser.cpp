// ICD-10-PCS codes file and order file.
#include "medcode/codes/icd10pcs_parser.h"

#include <cctype>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

// PCS characters: digits and letters other than I and O.
bool is_pcs_character(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'O');
}

bool is_pcs_code(std::string_view code, std::size_t min_length) {
  if (code.size() < min_length || code.size() > 7) return false;
  for (char c : code) {
    if (!is_pcs_character(c)) return false;
  }
  return true;
}

bool is_order_line(std::string_view line) {
  if (line.size() < 17 || line[5] != ' ' || line[13] != ' ' || line[15] != ' ') return false;
  for (std::size_t i = 0; i < 5; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) return false;
  }
  return (line[14] == '0' || line[14] == '1') && is_pcs_code(util::trim(line.substr(6, 7)), 1);
}

bool is_codes_line(std::string_view line) {
  return line.size() > 8 && line[7] == ' ' && is_pcs_code(line.substr(0, 7), 7) && !util::trim(line.substr(8)).empty();
}

std::string_view first_line(std::string_view text) {
  for (std::string_view line : util::split_lines(text.substr(0, 4096))) {
    if (!util::trim(line).empty()) return line;
  }
  return {};
}

PcsEntry order_entry(std::string_view line, std::string_view source, std::size_t number) {
  if (!is_order_line(line)) {
    fail(ExitCode::bad_input, "{}:{}: not an ICD-10-PCS order-file record ('NNNNN CODE    F SHORT... LONG')",
         source, number);
  }
  PcsEntry entry;
  entry.line = number;
  entry.code = std::string(util::trim(line.substr(6, 7)));
  entry.billable = line[14] == '1';
  if (entry.billable && entry.code.size() != 7) {
    fail(ExitCode::bad_input, "{}:{}: valid code {} must have 7 characters", source, number, entry.code);
  }
  entry.short_description = std::string(util::trim(line.substr(16, 60)));
  entry.description = line.size() > 77 ? std::string(util::trim(line.substr(77))) : entry.short_description;
  if (entry.description.empty()) fail(ExitCode::bad_input, "{}:{}: code {} has no description", source, number, entry.code);
  return entry;
}

PcsEntry codes_entry(std::string_view line, std::string_view source, std::size_t number) {
  if (!is_codes_line(line)) {
    fail(ExitCode::bad_input, "{}:{}: not an ICD-10-PCS codes-file line ('CODE DESCRIPTION', 7-character code)",
         source, number);
  }
  return {std::string(line.substr(0, 7)), true, {}, std::string(util::trim(line.substr(8))), number};
}

}  // namespace

bool looks_like_icd10pcs_file(std::string_view text) {
  std::string_view line = first_line(text);
  return is_order_line(line) || is_codes_line(line);
}

PcsFileKind icd10pcs_file_kind(std::string_view text) {
  return is_order_line(first_line(text)) ? PcsFileKind::order : PcsFileKind::codes;
}

PcsFile parse_icd10pcs_file(std::string_view raw_text, std::string_view source) {
  std::string text = util::to_utf8(raw_text);
  std::string_view first = first_line(text);
  if (first.empty()) fail(ExitCode::bad_input, "{}: empty file", source);
  PcsFile file;
  file.kind = icd10pcs_file_kind(text);
  file.entries.reserve(80000);
  std::size_t number = 0;
  for (std::string_view line : util::split_lines(text)) {
    ++number;
    if (util::trim(line).empty()) continue;
    file.entries.push_back(file.kind == PcsFileKind::order ? order_entry(line, source, number)
                                                           : codes_entry(line, source, number));
  }
  return file;
}

}  // namespace medcode::codes
