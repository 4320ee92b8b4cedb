// HCPCS Level II annual file: fixed-width records sliced by column before decoding (the file is
// Windows-1252), per "HCPCS Contractor Record" (HCPCSYYYY_recordlayout.txt): columns 1-5 code (4-5 for a
// modifier), 6-10 sequence number, 11 record identification code, 12-91 long description, 92-119 short
// description, 120-293 the fields in k_fields, 294-320 filler.
#include "medcode/codes/hcpcs_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <unordered_map>
#include <utility>

#include "medcode/codes/code_system.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

constexpr std::size_t k_first_line_length = 293;   // through the action code (column 293)
constexpr std::size_t k_continuation_length = 91;  // through the long description (column 91)
constexpr std::size_t k_record_length = 320;       // through the filler; a longer line has shifted columns

enum class FieldKind { text, date, number };

// A field of the first record of a code or modifier, by 1-based columns of its first occurrence; a field
// that the layout lets occur several times ("OCCURS MAX") repeats right after itself and is read as an array.
struct Field {
  const char* name;
  std::size_t first;
  std::size_t last;
  int occurs;
  FieldKind kind;
};

constexpr std::array<Field, 21> k_fields = {{
    {"pricing_indicators", 120, 121, 4, FieldKind::text},
    {"multiple_pricing_indicator", 128, 128, 1, FieldKind::text},
    {"coverage_issues_manual_sections", 129, 134, 3, FieldKind::text},
    {"carriers_manual_sections", 147, 154, 3, FieldKind::text},
    {"statute", 171, 180, 1, FieldKind::text},
    {"lab_certifications", 181, 183, 8, FieldKind::text},
    {"cross_references", 205, 209, 5, FieldKind::text},
    {"coverage_code", 230, 230, 1, FieldKind::text},
    {"asc_payment_group", 231, 232, 1, FieldKind::text},
    {"asc_payment_group_effective_date", 233, 240, 1, FieldKind::date},
    {"mog_payment_group", 241, 243, 1, FieldKind::text},
    {"mog_payment_policy_indicator", 244, 244, 1, FieldKind::text},
    {"mog_effective_date", 245, 252, 1, FieldKind::date},
    {"processing_note", 253, 256, 1, FieldKind::text},
    {"betos", 257, 259, 1, FieldKind::text},
    {"types_of_service", 261, 261, 5, FieldKind::text},
    {"anesthesia_base_units", 266, 268, 1, FieldKind::number},
    {"added_date", 269, 276, 1, FieldKind::date},
    {"action_effective_date", 277, 284, 1, FieldKind::date},
    {"termination_date", 285, 292, 1, FieldKind::date},
    {"action_code", 293, 293, 1, FieldKind::text},
}};

bool is_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// YYYYMMDD with a month and day that can be (a field shifted by a column or two reads as other digits).
bool is_date(std::string_view text) {
  if (text.size() != 8 || !is_digits(text)) return false;
  int month = std::stoi(std::string(text.substr(4, 2)));
  int day = std::stoi(std::string(text.substr(6, 2)));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// The value of a field of a date or number kind, typed; nullopt when it does not parse as its kind.
std::optional<nlohmann::json> typed_value(const Field& field, const std::string& value) {
  switch (field.kind) {
    case FieldKind::text:
      return value;
    case FieldKind::number:
      if (!is_digits(value)) return std::nullopt;
      return std::stoi(value);
    case FieldKind::date:
      if (!is_date(value)) return std::nullopt;
      return value.substr(0, 4) + "-" + value.substr(4, 2) + "-" + value.substr(6, 2);
  }
  return std::nullopt;
}

// The columns of a record line: bytes in a Windows-1252 file, characters in a UTF-8 one (a file converted to
// UTF-8 keeps 320 characters a line, not 320 bytes). Fields are taken by the 1-based first and last column
// that the record layout gives.
class Columns {
 public:
  Columns(std::string_view line, bool is_utf8) : m_line(line) {
    if (!is_utf8 || std::all_of(line.begin(), line.end(), [](char c) { return (c & 0x80) == 0; })) return;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) m_starts.push_back(i);
    }
    m_starts.push_back(line.size());
  }

  std::size_t size() const { return m_starts.empty() ? m_line.size() : m_starts.size() - 1; }

  std::string_view operator()(std::size_t first, std::size_t last) const {
    if (size() < first) return {};
    last = std::min(last, size());
    if (m_starts.empty()) return m_line.substr(first - 1, last - first + 1);
    return m_line.substr(m_starts[first - 1], m_starts[last] - m_starts[first - 1]);
  }

 private:
  std::string_view m_line;
  std::vector<std::size_t> m_starts;  // byte offset of each character, then the end; empty: one byte each
};

// Code (or filler and modifier) in 1-5, a sequence number in 6-10, the record identification code in 11.
bool is_record(std::string_view line) {
  return line.size() >= 11 && is_digits(line.substr(5, 5)) &&
         std::isalnum(static_cast<unsigned char>(line[3])) &&
         std::isalnum(static_cast<unsigned char>(line[4]));
}

std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

class AnnualFileReader {
 public:
  AnnualFileReader(std::string_view source, bool is_utf8, const HcpcsReadOptions& options)
      : m_source(source), m_is_utf8(is_utf8), m_options(options) {}

  void read_line(std::string_view line, std::size_t number) {
    line = without_cr(line);
    if (!m_started) {
      if (!is_record(line)) return;  // the disclaimer block before the first record
      m_started = true;
    }
    if (util::trim(line).empty()) return;
    if (!is_record(line)) fail(ExitCode::bad_input, "{}:{}: not an annual-file record", m_source, number);
    Columns columns(line, m_is_utf8);
    if (columns.size() > k_record_length) too_long(columns.size(), util::trim(columns(1, 5)), number);
    switch (line[10]) {
      case '3':
        first_line(columns, number, false);
        break;
      case '7':
        first_line(columns, number, true);
        break;
      case '4':
        continuation(columns, number, false);
        break;
      case '8':
        continuation(columns, number, true);
        break;
      default:
        fail(ExitCode::bad_input,
             "{}:{}: unknown record identification code '{}' in column 11 (expected 3, 4, 7 or 8)", m_source,
             number, line[10]);
    }
  }

  HcpcsAnnualFile finish() {
    if (m_file.entries.empty()) fail(ExitCode::bad_input, "{}: no HCPCS records found", m_source);
    join_continuations();
    return std::move(m_file);
  }

 private:
  std::string text(std::string_view field) const {
    std::string_view trimmed = util::trim(field);
    return m_is_utf8 ? std::string(trimmed) : util::cp1252_to_utf8(trimmed);
  }

  std::string code_of(const Columns& column, bool modifier, std::size_t number) const {
    if (!modifier) {
      std::string code = util::to_upper(column(1, 5));
      if (auto problem = format_problem(System::hcpcs, code); problem || code.size() != 5) {
        fail(ExitCode::bad_input, "{}:{}: '{}' in columns 1-5 is not an HCPCS code: {}", m_source, number,
             code, problem.value_or("HCPCS codes have 5 characters"));
      }
      return code;
    }
    if (!util::trim(column(1, 3)).empty()) {
      fail(ExitCode::bad_input, "{}:{}: a modifier record must leave columns 1-3 blank", m_source, number);
    }
    return util::to_upper(column(4, 5));
  }

  void first_line(const Columns& column, std::size_t number, bool modifier) {
    if (column.size() < k_first_line_length) {
      fail(ExitCode::bad_input, "{}:{}: record is {} columns long, the layout needs {}", m_source, number,
           column.size(), k_first_line_length);
    }
    join_continuations();
    HcpcsEntry entry;
    entry.line = number;
    entry.modifier = modifier;
    entry.code = code_of(column, modifier, number);
    auto [seen, inserted] = m_first_lines.emplace((modifier ? "modifier " : "code ") + entry.code, number);
    if (!inserted) {
      fail(ExitCode::bad_input, "{}:{}: {} {} already began on line {}", m_source, number,
           modifier ? "modifier" : "code", entry.code, seen->second);
    }
    m_fragments.emplace_back(sequence_number(column), text(column(12, 91)));
    entry.short_description = text(column(92, 119));
    entry.attributes = attributes(column, entry.code, number);
    if (auto date = entry.attributes.find("termination_date"); date != entry.attributes.end()) {
      entry.termination_date = date->get<std::string>();
    }
    if (auto action = entry.attributes.find("action_code"); action != entry.attributes.end()) {
      entry.action_code = action->get<std::string>();
    }
    m_file.entries.push_back(std::move(entry));
  }

  nlohmann::json attributes(const Columns& column, std::string_view code, std::size_t number) {
    nlohmann::json out = nlohmann::json::object();
    for (const Field& field : k_fields) {
      std::size_t width = field.last - field.first + 1;
      nlohmann::json values = nlohmann::json::array();
      for (int i = 0; i < field.occurs; ++i) {
        std::size_t first = field.first + static_cast<std::size_t>(i) * width;
        std::string value = text(column(first, first + width - 1));
        if (value.empty()) continue;
        if (auto typed = typed_value(field, value)) {
          values.push_back(std::move(*typed));
        } else {
          drop_field(field, value, first, code, number);
        }
      }
      if (values.empty()) continue;
      out[field.name] = field.occurs > 1 ? values : values.front();
    }
    return out;
  }

  // Official files bend their own layout (a date two columns left of its place): an optional field that does
  // not parse is kept empty, unless strict.
  void drop_field(const Field& field, const std::string& value, std::size_t first, std::string_view code,
                  std::size_t number) {
    std::string problem = fmt::format("{} '{}' in columns {}-{} is not {}", field.name, value, first,
                                      first + field.last - field.first,
                                      field.kind == FieldKind::date ? "a YYYYMMDD date" : "a number");
    if (m_options.strict) fail(ExitCode::bad_input, "{}:{}: {}", m_source, number, problem);
    m_file.warnings.push_back(fmt::format("{}:{}: {}: {}; kept empty", m_source, number, code, problem));
    ++m_file.n_fields_dropped;
  }

  // Columns past the filler mean that something before them moved, so the record is read by the layout's
  // columns but not silently.
  void too_long(std::size_t length, std::string_view code, std::size_t number) {
    std::string problem =
        fmt::format("record is {} columns long, the layout has {}", length, k_record_length);
    if (m_options.strict) fail(ExitCode::bad_input, "{}:{}: {}", m_source, number, problem);
    m_file.warnings.push_back(
        fmt::format("{}:{}: {}: {}; read by the layout's columns", m_source, number, code, problem));
    ++m_file.n_records_too_long;
  }

  void continuation(const Columns& column, std::size_t number, bool modifier) {
    if (column.size() < k_continuation_length) {
      fail(ExitCode::bad_input, "{}:{}: continuation record is {} columns long, the layout needs {}",
           m_source, number, column.size(), k_continuation_length);
    }
    std::string code = code_of(column, modifier, number);
    if (m_file.entries.empty() || m_file.entries.back().code != code ||
        m_file.entries.back().modifier != modifier) {
      fail(ExitCode::bad_input, "{}:{}: continuation of {} without its first record", m_source, number, code);
    }
    int sequence = sequence_number(column);
    for (const auto& fragment : m_fragments) {
      if (fragment.first == sequence) {
        fail(ExitCode::bad_input, "{}:{}: sequence number {} repeats for {}", m_source, number, sequence,
             code);
      }
    }
    m_fragments.emplace_back(sequence, text(column(12, 91)));
  }

  static int sequence_number(const Columns& column) { return std::stoi(std::string(column(6, 10))); }

  // CMS wraps long descriptions at spaces, so the pieces join with one space, in sequence-number order.
  void join_continuations() {
    if (m_fragments.empty()) return;
    std::stable_sort(m_fragments.begin(), m_fragments.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string& description = m_file.entries.back().description;
    for (const auto& [sequence, piece] : m_fragments) {
      if (piece.empty()) continue;
      if (!description.empty()) description += ' ';
      description += piece;
    }
    m_fragments.clear();
    const HcpcsEntry& entry = m_file.entries.back();
    if (entry.description.empty() && entry.short_description.empty()) {
      fail(ExitCode::bad_input, "{}:{}: {} {} has neither a long nor a short description", m_source,
           entry.line, entry.modifier ? "modifier" : "code", entry.code);
    }
  }

  std::string m_source;
  bool m_is_utf8;
  HcpcsReadOptions m_options;
  bool m_started = false;
  HcpcsAnnualFile m_file;
  std::vector<std::pair<int, std::string>> m_fragments;        // (sequence number, text) of the last entry
  std::unordered_map<std::string, std::size_t> m_first_lines;  // "code A0021" → line of its first record
};

}  // namespace

HcpcsAnnualFile parse_hcpcs_annual_file(std::string_view text, std::string_view source,
                                        const HcpcsReadOptions& options) {
  AnnualFileReader reader(source, util::is_valid_utf8(text), options);
  std::size_t number = 0;
  for (std::string_view line : util::split_lines(text)) reader.read_line(line, ++number);
  return reader.finish();
}

bool looks_like_hcpcs_annual_file(std::string_view text) {
  std::size_t checked = 0;
  for (std::string_view line : util::split_lines(text.substr(0, 64 * 1024))) {
    line = without_cr(line);
    if (is_record(line) && line.size() >= k_continuation_length &&
        (line[10] == '3' || line[10] == '4' || line[10] == '7' || line[10] == '8')) {
      return true;
    }
    if (++checked > 200) break;
  }
  return false;
}

}  // namespace medcode::codes
