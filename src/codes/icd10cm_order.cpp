// Fixed-width ICD-10-CM order file and code descriptions file.
#include "medcode/codes/icd10cm_order.h"

#include <cctype>

#include "medcode/codes/code_system.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

constexpr std::size_t k_long_description_column = 78;

bool is_order_line(std::string_view line) {
  if (line.size() < 17) return false;
  for (std::size_t i = 0; i < 5; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) return false;
  }
  return line[5] == ' ' && line[13] == ' ' && (line[14] == '0' || line[14] == '1') && line[15] == ' ';
}

bool is_code_descriptions_line(std::string_view line) {
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos || space < 3 || space > 7) return false;
  return !format_problem(System::icd10cm, line.substr(0, space)) &&
         !util::trim(line.substr(space)).empty();
}

std::string_view first_line(std::string_view text) {
  for (std::string_view line : util::split_lines(text)) {
    if (!util::trim(line).empty()) return line;
  }
  return {};
}

std::string canonical_or_fail(std::string_view raw, std::string_view source, std::size_t line) {
  std::string_view code = util::trim(raw);
  if (auto problem = format_problem(System::icd10cm, code)) {
    fail(ExitCode::bad_input, "{}:{}: code '{}': {}", source, line, code, *problem);
  }
  return *canonical_code(System::icd10cm, code);
}

OrderEntry parse_order_line(std::string_view line, std::string_view source, std::size_t number) {
  if (!is_order_line(line)) {
    fail(ExitCode::bad_input, "{}:{}: not an order-file record (expected 'NNNNN CODE    F SHORT... LONG')",
         source, number);
  }
  OrderEntry entry;
  entry.line = number;
  entry.code = canonical_or_fail(line.substr(6, 7), source, number);
  entry.billable = line[14] == '1';
  // A line cut short (a truncated download, an editor's line limit) would otherwise pass off the start of its
  // short description as the code's description.
  if (line.size() < k_long_description_column) {
    fail(ExitCode::bad_input,
         "{}:{}: code {} has no long description: the line ends at column {}, the layout starts it at "
         "column {}",
         source, number, entry.code, line.size(), k_long_description_column);
  }
  entry.short_description = std::string(util::trim(line.substr(16, 60)));
  entry.description = std::string(util::trim(line.substr(k_long_description_column - 1)));
  if (entry.description.empty()) fail(ExitCode::bad_input, "{}:{}: code {} has no description", source, number, entry.code);
  return entry;
}

OrderEntry parse_code_descriptions_line(std::string_view line, std::string_view source, std::size_t number) {
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos) {
    fail(ExitCode::bad_input, "{}:{}: expected 'CODE DESCRIPTION'", source, number);
  }
  OrderEntry entry;
  entry.line = number;
  entry.code = canonical_or_fail(line.substr(0, space), source, number);
  entry.description = std::string(util::trim(line.substr(space)));
  if (entry.description.empty()) fail(ExitCode::bad_input, "{}:{}: code {} has no description", source, number, entry.code);
  return entry;
}

}  // namespace

bool looks_like_icd10cm_order_file(std::string_view text) {
  std::string_view line = first_line(text);
  return is_order_line(line) || is_code_descriptions_line(line);
}

OrderFile parse_icd10cm_order_file(std::string_view raw_text, std::string_view source) {
  std::string text = util::to_utf8(raw_text);
  OrderFile file;
  std::string_view first = first_line(text);
  if (first.empty()) fail(ExitCode::bad_input, "{}: empty file", source);
  file.kind = is_order_line(first) ? OrderFileKind::order : OrderFileKind::code_descriptions;
  std::size_t number = 0;
  for (std::string_view line : util::split_lines(text)) {
    ++number;
    if (util::trim(line).empty()) continue;
    file.entries.push_back(file.kind == OrderFileKind::order ? parse_order_line(line, source, number)
                                                             : parse_code_descriptions_line(line, source, number));
  }
  return file;
}

}  // namespace medcode::codes
