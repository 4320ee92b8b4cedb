// UTF-8 validation after RFC 3629's table of well-formed sequences, repair by maximal subparts, and
// conversion from declared encodings with iconv.
#include "medcode/util/utf8.h"

#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "medcode/util/error.h"

namespace medcode::util {

namespace {

// The sequence a lead byte starts: its length and the range its second byte must fall in (RFC 3629 §4).
struct Lead {
  std::size_t length = 0;
  unsigned char second_low = 0x80;
  unsigned char second_high = 0xBF;
};

Lead lead_of(unsigned char c) {
  if (c < 0x80) return {1};
  if (c >= 0xC2 && c <= 0xDF) return {2};
  if (c == 0xE0) return {3, 0xA0, 0xBF};
  if (c == 0xED) return {3, 0x80, 0x9F};  // not the surrogates
  if (c >= 0xE1 && c <= 0xEF) return {3};
  if (c == 0xF0) return {4, 0x90, 0xBF};
  if (c >= 0xF1 && c <= 0xF3) return {4};
  if (c == 0xF4) return {4, 0x80, 0x8F};  // not past U+10FFFF
  return {0};
}

// Bytes of the ill-formed part at `at` that one U+FFFD replaces: the lead and the continuation bytes that
// still fit it (at least 1).
std::size_t maximal_subpart(std::string_view bytes, std::size_t at) {
  Lead lead = lead_of(static_cast<unsigned char>(bytes[at]));
  if (lead.length < 2) return 1;
  std::size_t n = 1;
  while (n < lead.length && at + n < bytes.size()) {
    auto c = static_cast<unsigned char>(bytes[at + n]);
    bool fits = n == 1 ? (c >= lead.second_low && c <= lead.second_high) : (c >= 0x80 && c <= 0xBF);
    if (!fits) break;
    ++n;
  }
  return n;
}

bool is_ascii_word(const char* data) {
  std::uint64_t word = 0;
  std::memcpy(&word, data, sizeof word);
  return (word & 0x8080808080808080ULL) == 0;
}

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_ascii(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return (static_cast<unsigned char>(c) & 0x80) == 0; });
}

bool names_utf8(std::string_view encoding) {
  std::string name = lower_ascii(encoding);
  return name == "utf-8" || name == "utf8" || name == "us-ascii" || name == "ascii";
}

struct IconvCloser {
  iconv_t handle;
  ~IconvCloser() { iconv_close(handle); }
};

}  // namespace

std::size_t utf8_sequence_length(std::string_view bytes, std::size_t at) {
  Lead lead = lead_of(static_cast<unsigned char>(bytes[at]));
  if (lead.length == 0 || at + lead.length > bytes.size()) return 0;
  for (std::size_t k = 1; k < lead.length; ++k) {
    auto c = static_cast<unsigned char>(bytes[at + k]);
    unsigned char low = k == 1 ? lead.second_low : 0x80;
    unsigned char high = k == 1 ? lead.second_high : 0xBF;
    if (c < low || c > high) return 0;
  }
  return lead.length;
}

std::size_t first_invalid_utf8(std::string_view bytes) {
  std::size_t i = 0;
  const std::size_t size = bytes.size();
  while (i < size) {
    if (i + 8 <= size && is_ascii_word(bytes.data() + i)) {
      i += 8;
      continue;
    }
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = utf8_sequence_length(bytes, i);
    if (length == 0) return i;
    i += length;
  }
  return std::string_view::npos;
}

std::size_t replace_invalid_utf8(std::string& text) {
  std::size_t first = first_invalid_utf8(text);
  if (first == std::string::npos) return 0;
  std::string out;
  out.reserve(text.size() + 16);
  out.append(text, 0, first);
  std::size_t replaced = 0;
  std::size_t i = first;
  while (i < text.size()) {
    std::size_t length = utf8_sequence_length(text, i);
    if (length > 0) {
      out.append(text, i, length);
      i += length;
      continue;
    }
    out += "\xEF\xBF\xBD";
    ++replaced;
    i += maximal_subpart(text, i);
  }
  text = std::move(out);
  return replaced;
}

std::string describe_bytes(std::string_view bytes, std::size_t at, std::size_t count) {
  std::string out;
  for (std::size_t k = at; k < bytes.size() && k < at + count; ++k) {
    if (!out.empty()) out += ' ';
    out += fmt::format("0x{:02X}", static_cast<unsigned char>(bytes[k]));
  }
  return out;
}

std::string convert_to_utf8(std::string_view bytes, std::string_view encoding, std::string_view source,
                            std::size_t base_offset, std::size_t base_line) {
  std::string name(encoding);
  iconv_t handle = iconv_open("UTF-8", name.c_str());
  if (handle == reinterpret_cast<iconv_t>(-1)) {
    fail(ExitCode::bad_input, "{}: declares the encoding '{}', which this system cannot convert", source, name);
  }
  IconvCloser closer{handle};
  std::string out;
  out.resize(bytes.size() + bytes.size() / 2 + 16);
  // iconv's interface takes non-const input; it does not write to it.
  char* in = const_cast<char*>(bytes.data());
  std::size_t in_left = bytes.size();
  std::size_t used = 0;
  while (in_left > 0) {
    char* out_at = out.data() + used;
    std::size_t out_left = out.size() - used;
    std::size_t result = iconv(handle, &in, &in_left, &out_at, &out_left);
    used = static_cast<std::size_t>(out_at - out.data());
    if (result != static_cast<std::size_t>(-1)) break;
    if (errno == E2BIG) {
      out.resize(out.size() * 2);
      continue;
    }
    auto offset = static_cast<std::size_t>(in - bytes.data());
    std::size_t line = base_line + static_cast<std::size_t>(std::count(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
    fail(ExitCode::bad_input, "{}: line {}, byte {}: {} is not valid {}", source, line, base_offset + offset,
         describe_bytes(bytes, offset, 2), name);
  }
  out.resize(used);
  return out;
}

std::size_t require_utf8(std::string& text, std::string_view source, bool lossy) {
  std::size_t at = first_invalid_utf8(text);
  if (at == std::string::npos) return 0;
  if (lossy) return replace_invalid_utf8(text);
  std::size_t line = 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
  fail(ExitCode::bad_input,
       "{}: line {}, byte {}: not valid UTF-8 ({}); convert the file, or pass --lossy to replace such bytes with "
       "U+FFFD",
       source, line, at, describe_bytes(text, at, maximal_subpart(text, at) + 1));
}

std::size_t decode_xml_text(std::string& xml, std::string_view source, bool lossy) {
  // A UTF-16 document announces itself with a byte-order mark; its declaration is then only rewritten.
  bool converted = false;
  if (xml.size() >= 2 && ((xml[0] == '\xFF' && xml[1] == '\xFE') || (xml[0] == '\xFE' && xml[1] == '\xFF'))) {
    xml = convert_to_utf8(xml, "UTF-16", source);
    if (xml.rfind("\xEF\xBB\xBF", 0) == 0) xml.erase(0, 3);
    converted = true;
  }
  std::size_t start = xml.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  if (xml.compare(start, 5, "<?xml") == 0) {
    std::size_t end = xml.find("?>", start);
    std::size_t key = end == std::string::npos ? end : xml.find("encoding", start);
    if (key != std::string::npos && key < end) {
      std::size_t quote = xml.find_first_of("\"'", key);
      std::size_t close = quote < end ? xml.find(xml[quote], quote + 1) : std::string::npos;
      if (close != std::string::npos && close < end) {
        std::string encoding = xml.substr(quote + 1, close - quote - 1);
        if (!names_utf8(encoding)) {
          std::string head = xml.substr(0, quote + 1) + "UTF-8" + xml.substr(close, end + 2 - close);
          std::string_view rest = std::string_view(xml).substr(end + 2);
          bool already_utf8 = !is_ascii(rest) && first_invalid_utf8(rest) == std::string_view::npos;
          std::size_t line = 1 + static_cast<std::size_t>(std::count(xml.begin(), xml.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
          std::string body = converted || already_utf8 ? std::string(rest)
                                                       : convert_to_utf8(rest, encoding, source, end + 2, line);
          xml = head + body;
        }
      }
    }
  }
  return require_utf8(xml, source, lossy);
}

}  // namespace medcode::util
