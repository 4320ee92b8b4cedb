// ICD-10-PCS codes file and order file: each line checked against its layout, the code against PCS shape.
#include "medcode/codes/icd10pcs_parser.h"

#include <cctype>
#include <unordered_map>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

constexpr std::size_t k_order_long_description_column = 78;

// PCS characters: digits and letters other than I and O (either case; codes are stored upper case).
bool is_pcs_character(char c) {
  char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return std::isdigit(static_cast<unsigned char>(c)) ||
         (upper >= 'A' && upper <= 'Z' && upper != 'I' && upper != 'O');
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
  return line.size() > 8 && line[7] == ' ' && is_pcs_code(line.substr(0, 7), 7) &&
         !util::trim(line.substr(8)).empty();
}

std::string_view first_line(std::string_view text) {
  for (std::string_view line : util::split_lines(text.substr(0, 4096))) {
    if (!util::trim(line).empty()) return line;
  }
  return {};
}

class PcsReader {
 public:
  PcsReader(std::string_view source, PcsFileKind kind, bool is_utf8)
      : m_source(source), m_kind(kind), m_is_utf8(is_utf8) {}

  PcsEntry read(std::string_view line, std::size_t number) {
    PcsEntry entry = m_kind == PcsFileKind::order ? order_entry(line, number) : codes_entry(line, number);
    if (entry.description.empty()) {
      fail(ExitCode::bad_input, "{}:{}: code {} has no description", m_source, number, entry.code);
    }
    auto [seen, inserted] = m_lines.emplace(entry.code, number);
    if (!inserted) {
      fail(ExitCode::bad_input, "{}:{}: code {} is already on line {}", m_source, number, entry.code,
           seen->second);
    }
    return entry;
  }

 private:
  std::string text(std::string_view field) const {
    std::string_view trimmed = util::trim(field);
    return m_is_utf8 ? std::string(trimmed) : util::cp1252_to_utf8(trimmed);
  }

  PcsEntry order_entry(std::string_view line, std::size_t number) const {
    if (!is_order_line(line)) {
      fail(ExitCode::bad_input,
           "{}:{}: not an ICD-10-PCS order-file record (order number in columns 1-5, code in 7-13, flag 0 or "
           "1 in "
           "15, short description in 17-76, long description from 78)",
           m_source, number);
    }
    PcsEntry entry;
    entry.line = number;
    entry.code = util::to_upper(util::trim(line.substr(6, 7)));
    entry.billable = line[14] == '1';
    if (entry.billable && entry.code.size() != 7) {
      fail(ExitCode::bad_input, "{}:{}: valid code {} must have 7 characters", m_source, number, entry.code);
    }
    // A line cut short would otherwise pass off the start of its short description as the description.
    if (line.size() < k_order_long_description_column) {
      fail(ExitCode::bad_input,
           "{}:{}: code {} has no long description: the line ends at column {}, the layout starts it at "
           "column {}",
           m_source, number, entry.code, line.size(), k_order_long_description_column);
    }
    entry.short_description = text(line.substr(16, 60));
    entry.description = text(line.substr(k_order_long_description_column - 1));
    return entry;
  }

  PcsEntry codes_entry(std::string_view line, std::size_t number) const {
    std::string_view code = line.substr(0, std::min<std::size_t>(7, line.size()));
    if (!is_pcs_code(code, 7) || (line.size() > 7 && line[7] != ' ')) {
      fail(ExitCode::bad_input,
           "{}:{}: '{}' is not an ICD-10-PCS codes-file line (a 7-character code of digits and letters other "
           "than I "
           "and O, a space, the description)",
           m_source, number, util::trim(line.substr(0, 20)));
    }
    return {util::to_upper(code), true, {}, line.size() > 8 ? text(line.substr(8)) : std::string(), number};
  }

  std::string m_source;
  PcsFileKind m_kind;
  bool m_is_utf8;
  std::unordered_map<std::string, std::size_t> m_lines;  // code → line, to reject a code given twice
};

}  // namespace

bool looks_like_icd10pcs_file(std::string_view text) {
  std::string_view line = first_line(text);
  return is_order_line(line) || is_codes_line(line);
}

PcsFileKind icd10pcs_file_kind(std::string_view text) {
  return is_order_line(first_line(text)) ? PcsFileKind::order : PcsFileKind::codes;
}

PcsFile parse_icd10pcs_file(std::string_view text, std::string_view source) {
  if (first_line(text).empty()) fail(ExitCode::bad_input, "{}: empty file, no ICD-10-PCS codes", source);
  PcsFile file;
  file.kind = icd10pcs_file_kind(text);
  file.entries.reserve(text.size() / (file.kind == PcsFileKind::order ? 150 : 80));
  PcsReader reader(source, file.kind, util::is_valid_utf8(text));
  std::size_t number = 0;
  for (std::string_view line : util::split_lines(text)) {
    ++number;
    if (util::trim(line).empty()) continue;
    file.entries.push_back(reader.read(line, number));
  }
  return file;
}

}  // namespace medcode::codes
