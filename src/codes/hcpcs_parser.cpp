// HCPCS Level II annual file: fixed-width records sliced by column before decoding (the file is Windows-1252).
#include "medcode/codes/hcpcs_parser.h"

#include <cctype>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

constexpr std::size_t k_first_line_length = 293;    // through the action code (column 293)
constexpr std::size_t k_continuation_length = 91;   // through the long description (column 91)

// A field by its 1-based first and last column, as the record layout gives them.
std::string_view column(std::string_view line, std::size_t first, std::size_t last) {
  if (line.size() < first) return {};
  return line.substr(first - 1, std::min(last, line.size()) - first + 1);
}

bool is_record(std::string_view line) {
  if (line.size() < 11) return false;
  for (std::size_t i = 5; i < 10; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) return false;
  }
  return std::isalnum(static_cast<unsigned char>(line[3])) && std::isalnum(static_cast<unsigned char>(line[4]));
}

std::string iso_date(std::string_view yyyymmdd) {
  std::string_view date = util::trim(yyyymmdd);
  if (date.size() != 8) return {};
  return std::string(date.substr(0, 4)) + "-" + std::string(date.substr(4, 2)) + "-" + std::string(date.substr(6, 2));
}

class AnnualFileReader {
 public:
  AnnualFileReader(std::string_view source, bool is_utf8) : m_source(source), m_is_utf8(is_utf8) {}

  void read_line(std::string_view line, std::size_t number) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!m_started) {
      if (!is_record(line)) return;  // the disclaimer block before the first record
      m_started = true;
    }
    if (util::trim(line).empty()) return;
    if (!is_record(line)) fail(ExitCode::bad_input, "{}:{}: not an annual-file record", m_source, number);
    switch (line[10]) {
      case '3': first_line(line, number, false); break;
      case '7': first_line(line, number, true); break;
      case '4': continuation(line, number, false); break;
      case '8': continuation(line, number, true); break;
      default:
        fail(ExitCode::bad_input, "{}:{}: unknown record identification code '{}' in column 11", m_source, number,
             line[10]);
    }
  }

  std::vector<HcpcsEntry> finish() {
    if (m_entries.empty()) fail(ExitCode::bad_input, "{}: no HCPCS records found", m_source);
    return std::move(m_entries);
  }

 private:
  std::string text(std::string_view field) const {
    std::string_view trimmed = util::trim(field);
    return m_is_utf8 ? std::string(trimmed) : util::cp1252_to_utf8(trimmed);
  }

  std::string code_of(std::string_view line, bool modifier) const {
    return modifier ? std::string(column(line, 4, 5)) : std::string(column(line, 1, 5));
  }

  void first_line(std::string_view line, std::size_t number, bool modifier) {
    if (line.size() < k_first_line_length) {
      fail(ExitCode::bad_input, "{}:{}: record is {} columns long, the layout needs {}", m_source, number,
           line.size(), k_first_line_length);
    }
    HcpcsEntry entry;
    entry.line = number;
    entry.modifier = modifier;
    entry.code = util::to_upper(code_of(line, modifier));
    entry.description = text(column(line, 12, 91));
    entry.short_description = text(column(line, 92, 119));
    entry.action_code = text(column(line, 293, 293));
    entry.termination_date = iso_date(column(line, 285, 292));
    entry.attributes = attributes(line);
    m_entries.push_back(std::move(entry));
  }

  nlohmann::json attributes(std::string_view line) const {
    nlohmann::json out = nlohmann::json::object();
    auto put = [&](const char* name, std::string value) {
      if (!value.empty()) out[name] = std::move(value);
    };
    put("pricing_indicator", text(column(line, 120, 121)));
    put("multiple_pricing_indicator", text(column(line, 128, 128)));
    put("coverage_issues_manual_section", text(column(line, 129, 134)));
    put("carriers_manual_section", text(column(line, 147, 154)));
    put("statute", text(column(line, 171, 180)));
    put("lab_certification", text(column(line, 181, 183)));
    put("cross_reference", text(column(line, 205, 209)));
    put("coverage_code", text(column(line, 230, 230)));
    put("asc_payment_group", text(column(line, 231, 232)));
    put("asc_payment_group_effective_date", iso_date(column(line, 233, 240)));
    put("processing_note", text(column(line, 253, 256)));
    put("betos", text(column(line, 257, 259)));
    put("type_of_service", text(column(line, 261, 261)));
    put("anesthesia_base_units", text(column(line, 266, 268)));
    put("added_date", iso_date(column(line, 269, 276)));
    put("action_effective_date", iso_date(column(line, 277, 284)));
    put("termination_date", iso_date(column(line, 285, 292)));
    put("action_code", text(column(line, 293, 293)));
    return out;
  }

  void continuation(std::string_view line, std::size_t number, bool modifier) {
    if (line.size() < k_continuation_length) {
      fail(ExitCode::bad_input, "{}:{}: continuation record is {} columns long, the layout needs {}", m_source,
           number, line.size(), k_continuation_length);
    }
    std::string code = util::to_upper(code_of(line, modifier));
    if (m_entries.empty() || m_entries.back().code != code || m_entries.back().modifier != modifier) {
      fail(ExitCode::bad_input, "{}:{}: continuation of {} without its first record", m_source, number, code);
    }
    std::string more = text(column(line, 12, 91));
    if (!more.empty()) m_entries.back().description += " " + more;
  }

  std::string m_source;
  bool m_is_utf8;
  bool m_started = false;
  std::vector<HcpcsEntry> m_entries;
};

}  // namespace

std::vector<HcpcsEntry> parse_hcpcs_annual_file(std::string_view text, std::string_view source) {
  AnnualFileReader reader(source, util::is_valid_utf8(text));
  std::size_t number = 0;
  for (std::string_view line : util::split_lines(text)) reader.read_line(line, ++number);
  return reader.finish();
}

bool looks_like_hcpcs_annual_file(std::string_view text) {
  std::size_t checked = 0;
  for (std::string_view line : util::split_lines(text.substr(0, 64 * 1024))) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_record(line) && line.size() >= k_continuation_length &&
        (line[10] == '3' || line[10] == '4' || line[10] == '7' || line[10] == '8')) {
      return true;
    }
    if (++checked > 200) break;
  }
  return false;
}

}  // namespace medcode::codes
