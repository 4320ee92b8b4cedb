// The Unicode the byte-level BPE tokenizer needs outside its regexes: UTF-8 decoding that tolerates
// ill-formed bytes, White_Space and word characters, and the normalizers (NFC, NFD, NFKC, NFKD, Lowercase)
// through utf8proc.
#include <utf8proc.h>

#include <cstdlib>

#include "bpe_internal.h"
#include "medcode/util/error.h"

namespace medcode::text::bpe {

namespace {

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// The allowed range of the second byte after `lead` (Unicode's table 3-7 of well-formed UTF-8); the later
// continuation bytes are always 80..BF.
std::pair<unsigned char, unsigned char> second_byte_range(unsigned char lead) {
  switch (lead) {
    case 0xE0:
      return {0xA0, 0xBF};
    case 0xED:
      return {0x80, 0x9F};  // no surrogates
    case 0xF0:
      return {0x90, 0xBF};
    case 0xF4:
      return {0x80, 0x8F};  // nothing past U+10FFFF
    default:
      return {0x80, 0xBF};
  }
}

struct FreeDeleter {
  void operator()(void* pointer) const { std::free(pointer); }
};

// One normalization form of well-formed UTF-8.
void append_normalized(std::string_view text, int options, std::string& out) {
  utf8proc_uint8_t* result = nullptr;
  utf8proc_ssize_t length = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                         static_cast<utf8proc_ssize_t>(text.size()), &result,
                                         static_cast<utf8proc_option_t>(options));
  std::unique_ptr<utf8proc_uint8_t, FreeDeleter> owned(result);
  if (length < 0) fail(ExitCode::internal, "utf8proc normalization: {}", utf8proc_errmsg(length));
  out.append(reinterpret_cast<const char*>(result), static_cast<std::size_t>(length));
}

// Normalizes `text` (no ASCII in it but perhaps its first byte) where it is well-formed, keeping its
// ill-formed bytes as they are.
void append_normalized_run(std::string_view text, int options, std::string& out) {
  std::size_t run_begin = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    CodePoint c = code_point_at(text, i);
    if (c.valid) {
      i += c.length;
      continue;
    }
    if (i > run_begin) append_normalized(text.substr(run_begin, i - run_begin), options, out);
    out.append(text.substr(i, c.length));
    i += c.length;
    run_begin = i;
  }
  if (i > run_begin) append_normalized(text.substr(run_begin, i - run_begin), options, out);
}

// Every normal form has a boundary before each ASCII character (canonical combining class 0, composing with
// nothing before it), so only the non-ASCII runs, each with the character before it that a mark may join, go
// through utf8proc: clinical text is mostly ASCII.
std::string normalize(std::string_view text, int options) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t run_begin = i;
    while (run_begin < text.size() && bytes[run_begin] < 0x80) ++run_begin;
    if (run_begin == text.size()) {
      out.append(text.substr(i));
      break;
    }
    std::size_t run_end = run_begin;
    while (run_end < text.size() && bytes[run_end] >= 0x80) ++run_end;
    if (run_begin > i) --run_begin;  // the ASCII character a combining mark may follow
    out.append(text.substr(i, run_begin - i));
    append_normalized_run(text.substr(run_begin, run_end - run_begin), options, out);
    i = run_end;
  }
  return out;
}

bool is_cased(char32_t c) {
  auto value = static_cast<utf8proc_int32_t>(c);
  utf8proc_category_t category = utf8proc_category(value);
  return category == UTF8PROC_CATEGORY_LU || category == UTF8PROC_CATEGORY_LL ||
         category == UTF8PROC_CATEGORY_LT || utf8proc_islower(value) || utf8proc_isupper(value);
}

// Unicode's Case_Ignorable: marks, format characters, modifiers and the word-internal punctuation of
// Word_Break MidLetter, MidNumLet and Single_Quote.
bool is_case_ignorable(char32_t c) {
  switch (c) {
    case 0x0027:
    case 0x002E:
    case 0x003A:
    case 0x00B7:
    case 0x0387:
    case 0x055F:
    case 0x05F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
      return true;
    default:
      break;
  }
  utf8proc_category_t category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return category == UTF8PROC_CATEGORY_MN || category == UTF8PROC_CATEGORY_ME ||
         category == UTF8PROC_CATEGORY_CF || category == UTF8PROC_CATEGORY_LM ||
         category == UTF8PROC_CATEGORY_SK;
}

// Unicode's Final_Sigma condition for the capital sigma at code point index `at`: a cased letter before it
// and none after it, skipping case-ignorable characters on both sides.
bool is_final_sigma(const std::vector<char32_t>& text, std::size_t at) {
  bool cased_before = false;
  for (std::size_t i = at; i-- > 0;) {
    if (is_case_ignorable(text[i])) continue;
    cased_before = is_cased(text[i]);
    break;
  }
  if (!cased_before) return false;
  for (std::size_t i = at + 1; i < text.size(); ++i) {
    if (is_case_ignorable(text[i])) continue;
    return !is_cased(text[i]);
  }
  return true;
}

// Unicode's full lowercase mapping, as Rust's str::to_lowercase and JavaScript's toLowerCase: the simple
// mappings, U+0130 to "i" + U+0307 (the one unconditional expansion) and the final sigma. Ill-formed bytes
// become U+FFFD.
std::string lowercase(std::string_view text) {
  std::vector<char32_t> code_points;
  code_points.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    CodePoint c = code_point_at(text, i);
    code_points.push_back(c.value);
    i += c.length;
  }
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < code_points.size(); ++i) {
    char32_t c = code_points[i];
    if (c == 0x0130) {
      append_utf8(out, U'i');
      append_utf8(out, 0x0307);
    } else if (c == 0x03A3) {
      append_utf8(out, is_final_sigma(code_points, i) ? 0x03C2 : 0x03C3);
    } else {
      append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
  }
  return out;
}

bool all_ascii(std::string_view text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

}  // namespace

CodePoint code_point_at(std::string_view text, std::size_t offset) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  unsigned char lead = bytes[offset];
  if (lead < 0x80) return {lead, 1, true};
  std::size_t n_continuations = lead >= 0xC2 && lead <= 0xDF   ? 1
                                : lead >= 0xE0 && lead <= 0xEF ? 2
                                : lead >= 0xF0 && lead <= 0xF4 ? 3
                                                               : 0;
  if (n_continuations == 0) return {k_replacement_character, 1, false};
  char32_t value = lead & (0x3F >> n_continuations);
  auto [low, high] = second_byte_range(lead);
  // An incomplete sequence reads as one U+FFFD over its maximal subpart, as Unicode recommends and the WHATWG
  // decoder.
  for (std::size_t k = 1; k <= n_continuations; ++k) {
    if (offset + k >= size) return {k_replacement_character, k, false};
    unsigned char byte = bytes[offset + k];
    bool in_range = k == 1 ? byte >= low && byte <= high : is_continuation(byte);
    if (!in_range) return {k_replacement_character, k, false};
    value = (value << 6) | (byte & 0x3F);
  }
  return {value, n_continuations + 1, true};
}

CodePoint code_point_before(std::string_view text, std::size_t offset) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t begin = offset - 1;
  while (begin > 0 && offset - begin < 4 && is_continuation(bytes[begin])) --begin;
  CodePoint c = code_point_at(text, begin);
  if (c.valid && begin + c.length == offset) return c;
  return {k_replacement_character, 1, false};
}

bool is_valid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    if (bytes[i] < 0x80) {
      ++i;
      continue;
    }
    CodePoint c = code_point_at(text, i);
    if (!c.valid) return false;
    i += c.length;
  }
  return true;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

bool is_white_space(char32_t c) {
  // Unicode's White_Space property (PropList.txt), unchanged since Unicode 6.3 dropped U+180E.
  switch (c) {
    case 0x0009:
    case 0x000A:
    case 0x000B:
    case 0x000C:
    case 0x000D:
    case 0x0020:
    case 0x0085:
    case 0x00A0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_letter_or_digit(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
      return true;
    default:
      return false;
  }
}

void Normalizer::add(NormalizerStep step, std::string pattern, std::string text) {
  m_steps.push_back({step, std::move(pattern), std::move(text)});
}

std::string Normalizer::apply(std::string_view text) const {
  constexpr int k_stable = UTF8PROC_STABLE;
  std::string current(text);
  for (const Step& entry : m_steps) {
    const NormalizerStep step = entry.kind;
    if (step == NormalizerStep::prepend) {
      if (!current.empty()) current.insert(0, entry.text);
      continue;
    }
    if (step == NormalizerStep::replace) {
      if (entry.pattern.empty()) continue;
      std::string replaced;
      replaced.reserve(current.size() + current.size() / 4);
      std::size_t start = 0;
      for (std::size_t found; (found = current.find(entry.pattern, start)) != std::string::npos;
           start = found + entry.pattern.size())
        replaced.append(current, start, found - start).append(entry.text);
      replaced.append(current, start);
      current = std::move(replaced);
      continue;
    }
    // ASCII is already in every normal form; only lowercasing changes it.
    if (step != NormalizerStep::lowercase && all_ascii(current)) continue;
    switch (step) {
      case NormalizerStep::nfc:
        current = normalize(current, k_stable | UTF8PROC_COMPOSE);
        break;
      case NormalizerStep::nfd:
        current = normalize(current, k_stable | UTF8PROC_DECOMPOSE);
        break;
      case NormalizerStep::nfkc:
        current = normalize(current, k_stable | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
        break;
      case NormalizerStep::nfkd:
        current = normalize(current, k_stable | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
        break;
      case NormalizerStep::lowercase:
        if (all_ascii(current))
          for (char& c : current) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        else
          current = lowercase(current);
        break;
      case NormalizerStep::prepend:
      case NormalizerStep::replace:
        break;
    }
  }
  return current;
}

}  // namespace medcode::text::bpe
