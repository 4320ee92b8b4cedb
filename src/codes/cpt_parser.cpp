// The AMA's CPT data files: a layout recognised from the first line that is not blank, then one row a line,
// each checked and decoded (Windows-1252 unless the file is valid UTF-8).
#include "medcode/codes/cpt_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "medcode/codes/code_system.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

struct Layout {
  CptFileKind kind = CptFileKind::long_descriptors;
  bool has_header = false;
};

constexpr std::string_view k_utf8_bom = "\xEF\xBB\xBF";

std::string lower_trimmed(std::string_view text) { return util::to_lower(util::trim(text)); }

// The kind a header's descriptor column names ("Long Descriptor", "Consumer Friendly Descriptor", ...).
std::optional<CptFileKind> kind_of_header(const std::vector<std::string_view>& fields) {
  if (fields.size() < 3 || lower_trimmed(fields[0]) != "concept id" || lower_trimmed(fields[1]) != "cpt code")
    return std::nullopt;
  std::string column = lower_trimmed(fields.back());
  if (fields.size() == 4) {
    if (lower_trimmed(fields[2]) == "clinician descriptor id" && column == "clinician descriptor")
      return CptFileKind::clinician_descriptors;
    return std::nullopt;
  }
  if (fields.size() != 3) return std::nullopt;
  if (column == "long descriptor") return CptFileKind::long_descriptors;
  if (column == "medium descriptor") return CptFileKind::medium_descriptors;
  if (column == "short descriptor") return CptFileKind::short_descriptors;
  if (column == "consumer friendly descriptor") return CptFileKind::consumer_descriptors;
  return std::nullopt;
}

// The code and the descriptor of a header-less line: the code ends at the first tab or space.
std::pair<std::string_view, std::string_view> split_code(std::string_view line) {
  std::size_t end = line.find_first_of("\t ");
  if (end == std::string_view::npos) return {line, {}};
  return {line.substr(0, end), util::trim(line.substr(end + 1))};
}

bool is_cpt_code(std::string_view code) { return code.size() == 5 && !format_problem(System::cpt, code); }
bool is_modifier(std::string_view code) { return code.size() == 2 && !format_problem(System::cpt, code); }

// nullopt when the line has none of the layouts' shapes. A header-less file of codes is taken for long
// descriptors here; parse_cpt_file settles the kind from the descriptors' lengths.
std::optional<Layout> layout_of_first_line(std::string_view line) {
  std::vector<std::string_view> fields = util::split(line, '\t');
  if (auto kind = kind_of_header(fields)) return Layout{*kind, true};
  if (fields.size() >= 2 && lower_trimmed(fields[0]) == "modifier")
    return Layout{CptFileKind::modifiers, true};
  auto [code, text] = split_code(line);
  if (text.empty()) return std::nullopt;
  if (is_cpt_code(util::to_upper(code))) return Layout{CptFileKind::long_descriptors, false};
  if (fields.size() == 2 && is_modifier(util::to_upper(util::trim(fields[0]))))
    return Layout{CptFileKind::modifiers, false};
  return std::nullopt;
}

std::string_view without_bom(std::string_view text) {
  if (text.substr(0, k_utf8_bom.size()) == k_utf8_bom) text.remove_prefix(k_utf8_bom.size());
  return text;
}

std::size_t n_characters(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(
      utf8.begin(), utf8.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

class CptFileReader {
 public:
  CptFileReader(std::string_view source, bool is_utf8, Layout layout) : m_source(source), m_is_utf8(is_utf8) {
    m_file.kind = layout.kind;
    m_file.has_header = layout.has_header;
  }

  void read_line(std::string_view line, std::size_t number) {
    if (util::trim(line).empty()) return;
    if (m_file.has_header && !m_header_seen) {
      m_header_seen = true;
      return;
    }
    CptRow row = m_file.has_header && m_file.kind != CptFileKind::modifiers ? tabbed_row(line, number)
                                                                            : plain_row(line, number);
    row.line = number;
    if (row.text.empty()) {
      fail(ExitCode::bad_input, "{}:{}: {} {} has an empty descriptor", m_source, number,
           m_file.kind == CptFileKind::modifiers ? "modifier" : "CPT code", row.code);
    }
    keep(std::move(row));
  }

  CptFile finish() {
    if (m_file.rows.empty()) fail(ExitCode::bad_input, "{}: no CPT rows found after the header", m_source);
    if (!m_file.has_header && m_file.kind == CptFileKind::long_descriptors) m_file.kind = kind_by_length();
    return std::move(m_file);
  }

 private:
  std::string decoded(std::string_view field) const {
    std::string_view trimmed = util::trim(field);
    return m_is_utf8 ? std::string(trimmed) : util::cp1252_to_utf8(trimmed);
  }

  std::string code_of(std::string_view field, std::size_t number, bool modifier) const {
    std::string code = util::to_upper(util::trim(field));
    if (modifier ? is_modifier(code) : is_cpt_code(code)) return code;
    std::string problem = modifier
                              ? std::string("CPT modifiers have 2 letters or digits")
                              : format_problem(System::cpt, code).value_or("a modifier in a descriptor file");
    fail(ExitCode::bad_input, "{}:{}: '{}' is not a CPT {}: {}", m_source, number, decoded(field),
         modifier ? "modifier" : "code", problem);
  }

  // Concept Id, CPT Code, [Clinician Descriptor Id,] descriptor.
  CptRow tabbed_row(std::string_view line, std::size_t number) const {
    std::vector<std::string_view> fields = util::split(line, '\t');
    std::size_t expected = m_file.kind == CptFileKind::clinician_descriptors ? 4 : 3;
    while (fields.size() > expected && util::trim(fields.back()).empty()) fields.pop_back();  // trailing tabs
    if (fields.size() != expected) {
      fail(ExitCode::bad_input,
           "{}:{}: expected {} tab-separated fields (Concept Id, CPT Code, {}{}), found {}", m_source, number,
           expected, expected == 4 ? "Clinician Descriptor Id, " : "", cpt_file_kind_name(m_file.kind),
           fields.size());
    }
    CptRow row;
    row.concept_id = std::string(util::trim(fields[0]));
    if (row.concept_id.empty() || !std::all_of(row.concept_id.begin(), row.concept_id.end(),
                                               [](char c) { return c >= '0' && c <= '9'; })) {
      fail(ExitCode::bad_input, "{}:{}: Concept Id '{}' is not a number", m_source, number,
           decoded(fields[0]));
    }
    row.code = code_of(fields[1], number, false);
    if (expected == 4) row.clinician_descriptor_id = decoded(fields[2]);
    row.text = decoded(fields.back());
    return row;
  }

  // A header-less descriptor line, or a modifier line: the code (or modifier), a tab or space, the text.
  CptRow plain_row(std::string_view line, std::size_t number) const {
    auto [code, text] = split_code(util::trim(line));
    CptRow row;
    row.code = code_of(code, number, m_file.kind == CptFileKind::modifiers);
    row.text = decoded(text);
    return row;
  }

  // A code given again with the same text is a harmless repeat; with another, the file contradicts itself.
  void keep(CptRow row) {
    std::string key = row.code + '\t' + row.clinician_descriptor_id;
    auto [seen, inserted] = m_seen.emplace(key, m_file.rows.size());
    if (!inserted) {
      const CptRow& first = m_file.rows[seen->second];
      if (first.text == row.text) return;
      fail(ExitCode::bad_input, "{}:{}: {} {} given again with a different descriptor (first on line {})",
           m_source, row.line, m_file.kind == CptFileKind::modifiers ? "modifier" : "CPT code", row.code,
           first.line);
    }
    m_file.rows.push_back(std::move(row));
  }

  CptFileKind kind_by_length() const {
    std::size_t longest = 0;
    for (const CptRow& row : m_file.rows) longest = std::max(longest, n_characters(row.text));
    if (longest <= k_cpt_short_descriptor_max) return CptFileKind::short_descriptors;
    if (longest <= k_cpt_medium_descriptor_max) return CptFileKind::medium_descriptors;
    return CptFileKind::long_descriptors;
  }

  std::string m_source;
  bool m_is_utf8;
  bool m_header_seen = false;
  CptFile m_file;
  std::unordered_map<std::string, std::size_t> m_seen;  // "code<TAB>clinician id" → index in rows
};

std::optional<std::pair<std::string_view, std::size_t>> first_nonblank_line(
    const std::vector<std::string_view>& lines) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!util::trim(lines[i]).empty()) return std::pair{lines[i], i + 1};
  }
  return std::nullopt;
}

}  // namespace

std::string_view cpt_file_kind_name(CptFileKind kind) {
  switch (kind) {
    case CptFileKind::long_descriptors:
      return "Long Descriptor";
    case CptFileKind::medium_descriptors:
      return "Medium Descriptor";
    case CptFileKind::short_descriptors:
      return "Short Descriptor";
    case CptFileKind::consumer_descriptors:
      return "Consumer Friendly Descriptor";
    case CptFileKind::clinician_descriptors:
      return "Clinician Descriptor";
    case CptFileKind::modifiers:
      return "Modifier";
  }
  return "?";
}

bool looks_like_cpt_file(std::string_view text) {
  std::vector<std::string_view> lines = util::split_lines(without_bom(text.substr(0, 64 * 1024)));
  auto first = first_nonblank_line(lines);
  return first && layout_of_first_line(first->first).has_value();
}

CptFile parse_cpt_file(std::string_view text, std::string_view source) {
  text = without_bom(text);
  std::vector<std::string_view> lines = util::split_lines(text);
  auto first = first_nonblank_line(lines);
  if (!first) fail(ExitCode::bad_input, "{}: empty file, not a CPT data file", source);
  std::optional<Layout> layout = layout_of_first_line(first->first);
  if (!layout) {
    std::string shown = util::to_utf8(first->first.substr(0, 60));
    fail(ExitCode::bad_input,
         "{}:{}: not a CPT data file: '{}' is neither a 'Concept Id<TAB>CPT Code<TAB>...' header nor a code "
         "or "
         "modifier followed by its descriptor",
         source, first->second, shown);
  }
  CptFileReader reader(source, util::is_valid_utf8(text), *layout);
  for (std::size_t i = 0; i < lines.size(); ++i) reader.read_line(lines[i], i + 1);
  return reader.finish();
}

}  // namespace medcode::codes
