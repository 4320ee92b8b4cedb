// Small text helpers: encodings found in CMS files, trimming, case, time stamps.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace medcode::util {

bool is_valid_utf8(std::string_view bytes);

// Decodes Windows-1252 (which CMS fixed-width files use) to UTF-8; ASCII passes through unchanged.
std::string cp1252_to_utf8(std::string_view bytes);

// UTF-8 as is when valid, else decoded as Windows-1252.
std::string to_utf8(std::string_view bytes);

std::string_view trim(std::string_view text);
std::string to_upper(std::string_view text);
std::string to_lower(std::string_view text);
// Collapses runs of white space (including newlines) to one space and trims the ends.
std::string collapse_whitespace(std::string_view text);

// Splits on '\n', dropping a trailing '\r' from each line; a final empty line is not returned.
std::vector<std::string_view> split_lines(std::string_view text);

// The parts of `text` between the separators (an empty text gives one empty part).
std::vector<std::string_view> split(std::string_view text, char separator);

// The words of `text`, split at runs of spaces, tabs and line breaks.
std::vector<std::string_view> split_whitespace(std::string_view text);

// Current UTC time as "YYYY-MM-DDTHH:MM:SSZ".
std::string utc_now_iso8601();

}  // namespace medcode::util
