// In-place XML parsing with errors that name the file and line.
#include "xml_source.h"

#include <algorithm>

#include "medcode/util/error.h"
#include "medcode/util/utf8.h"

namespace medcode::codes {

std::size_t line_at(std::string_view buffer, std::ptrdiff_t offset) {
  auto end = std::min(static_cast<std::size_t>(std::max<std::ptrdiff_t>(offset, 0)), buffer.size());
  return 1 + static_cast<std::size_t>(std::count(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
}

std::size_t count_occurrences(std::string_view buffer, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = buffer.find(needle); at != std::string_view::npos; at = buffer.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

std::optional<int> version_year(std::string_view text) {
  if (text.size() != 4 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
}

pugi::xml_node load_xml_root(pugi::xml_document& document, std::string& xml, std::string_view source,
                             const char* root_name, std::string_view what) {
  // Text enters the store as UTF-8 only; an importer that allows --lossy has repaired it before.
  util::decode_xml_text(xml, source, false);
  pugi::xml_parse_result result =
      document.load_buffer_inplace(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!result) {
    fail(ExitCode::bad_input, "{}:{}: malformed XML ({})", source, line_at(xml, result.offset), result.description());
  }
  pugi::xml_node root = document.child(root_name);
  if (!root) fail(ExitCode::bad_input, "{}: not {} (no <{}> root)", source, what, root_name);
  return root;
}

}  // namespace medcode::codes
