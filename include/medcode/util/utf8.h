// Bytes that claim to be text: strict UTF-8 checks (RFC 3629), repair with U+FFFD, and conversion of the
// encodings other files declare (through iconv).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace medcode::util {

// Length (1-4) of the well-formed UTF-8 sequence that starts at bytes[at], or 0 when none does: overlong
// forms, surrogates, code points past U+10FFFF and cut-off sequences are not well formed.
std::size_t utf8_sequence_length(std::string_view bytes, std::size_t at);

// Offset of the first byte that does not begin a well-formed sequence; npos when all of `bytes` is UTF-8.
std::size_t first_invalid_utf8(std::string_view bytes);

// Replaces each maximal ill-formed part with U+FFFD (Unicode's "substitution of maximal subparts", so a cut
// sequence counts once and the byte after it is kept); returns how many were replaced.
std::size_t replace_invalid_utf8(std::string& text);

// `bytes` in `encoding` (a name iconv knows: ISO-8859-1, windows-1252, UTF-16, ...) converted to UTF-8.
// Error(bad_input) naming `source` for an encoding iconv does not know or bytes the encoding does not allow
// (their offset counted from `base_offset`, their line from `base_line`, for a part of a file).
std::string convert_to_utf8(std::string_view bytes, std::string_view encoding, std::string_view source,
                            std::size_t base_offset = 0, std::size_t base_line = 1);

// Makes `text` valid UTF-8. Invalid bytes are Error(bad_input) "<source>: line L, byte B: not valid UTF-8
// (0xFF 0xFE) ..." (B counts from 0 in the file's text) unless `lossy`, which replaces them with U+FFFD;
// returns how many were replaced.
std::size_t require_utf8(std::string& text, std::string_view source, bool lossy);

// The same for an XML document: a declared encoding other than UTF-8 is converted first (and the
// declaration rewritten to say UTF-8, so a second pass changes nothing); a UTF-16 byte-order mark is honoured.
// A document that declares a single-byte encoding but is valid UTF-8 with non-ASCII text (a common
// mislabelling) is kept as UTF-8, not converted twice.
std::size_t decode_xml_text(std::string& xml, std::string_view source, bool lossy);

// "0xFF 0xFE": up to `count` bytes from `at`, for messages.
std::string describe_bytes(std::string_view bytes, std::size_t at, std::size_t count = 4);

}  // namespace medcode::util
