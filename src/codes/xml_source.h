// Shared by the CMS XML readers: parsing a buffer in place and turning byte offsets into line numbers.
#pragma once

#include <pugixml.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace medcode::codes {

// 1-based line of a byte offset in `buffer` (offsets pugixml reports; negative ones count as 0).
std::size_t line_at(std::string_view buffer, std::ptrdiff_t offset);

// How many times `needle` occurs in `buffer`: a cheap count of elements before parsing, to size vectors once.
std::size_t count_occurrences(std::string_view buffer, std::string_view needle);

// The release year a <version> element states ("2023"): four digits, else none (the year then comes from
// --year or the file name).
std::optional<int> version_year(std::string_view text);

// Parses `xml` in place into `document` and returns its root element named `root_name`. Malformed XML is
// Error(bad_input) with the file and line; another root is Error(bad_input) saying the file is not `what`.
pugi::xml_node load_xml_root(pugi::xml_document& document, std::string& xml, std::string_view source,
                             const char* root_name, std::string_view what);

}  // namespace medcode::codes
