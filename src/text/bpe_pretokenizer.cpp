// The text stages of the byte-level BPE tokenizer before the merges: the Split and ByteLevel pre-tokenizers
// (PCRE2 regular expressions) and the GPT-2 byte-to-unicode table.
#include <algorithm>

#include "bpe_internal.h"
#include "medcode/util/error.h"

namespace medcode::text::bpe {

namespace {

// Oniguruma and Rust read \s as Unicode White_Space (U+0085 and U+000B included, U+FEFF not); PCRE2's \s with
// PCRE2_UCP adds U+180E, no longer White_Space since Unicode 6.3. Spelling the property out makes PCRE2 agree
// with them, inside character classes too.
std::string to_pcre2_syntax(std::string_view pattern) {
  // The contractions of the Llama-3 and Qwen2 patterns, case-insensitive, spelled out as classes: the same
  // set (simple case folding adds only U+017F to s) without folding case at every position tried. ICU's
  // interpreter ran twice as fast so; PCRE2's JIT gains little from it (within the noise of bench/README.md).
  constexpr std::string_view k_contractions = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
  constexpr std::string_view k_contractions_spelled =
      "'(?:[sS\\x{17F}]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])";
  if (std::size_t at = pattern.find(k_contractions); at != std::string_view::npos) {
    return to_pcre2_syntax(pattern.substr(0, at)) + std::string(k_contractions_spelled) +
           to_pcre2_syntax(pattern.substr(at + k_contractions.size()));
  }
  std::string out;
  out.reserve(pattern.size() + 32);
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      char next = pattern[i + 1];
      if (next == 's') {
        out += "\\p{White_Space}";
      } else if (next == 'S') {
        out += "\\P{White_Space}";
      } else {
        out += pattern.substr(i, 2);
      }
      ++i;
      continue;
    }
    out += pattern[i];
  }
  return out;
}

std::string pcre2_message(int error_code) {
  std::array<PCRE2_UCHAR, 256> buffer{};
  int length = pcre2_get_error_message(error_code, buffer.data(), buffer.size());
  if (length < 0) return "PCRE2 error " + std::to_string(error_code);
  return std::string(reinterpret_cast<const char*>(buffer.data()), static_cast<std::size_t>(length));
}

// The text as PCRE2 may search it: well-formed UTF-8 as it is; otherwise a copy with each ill-formed sequence
// replaced by U+FFFD and the byte offset in the original of each byte of the copy (and one past the end), so
// that the pieces cut from the offsets keep their own bytes.
struct Subject {
  std::string_view text;
  std::string repaired;
  std::vector<std::size_t> original_offsets;  // empty when `text` is the original

  std::size_t original_offset(std::size_t offset) const {
    return original_offsets.empty() ? offset : original_offsets[offset];
  }
};

void make_subject(std::string_view utf8, Subject& out) {
  out.repaired.clear();
  out.original_offsets.clear();
  if (is_valid_utf8(utf8)) {
    out.text = utf8;
    return;
  }
  for (std::size_t i = 0; i < utf8.size();) {
    CodePoint c = code_point_at(utf8, i);
    std::size_t before = out.repaired.size();
    if (c.valid)
      out.repaired.append(utf8.substr(i, c.length));
    else
      append_utf8(out.repaired, k_replacement_character);
    out.original_offsets.insert(out.original_offsets.end(), out.repaired.size() - before, i);
    i += c.length;
  }
  out.original_offsets.push_back(utf8.size());
  out.text = out.repaired;
}

// What one thread needs to search: match data for the whole match only and a JIT stack larger than PCRE2's
// default 32 KiB, for patterns that backtrack over long runs.
class MatchState {
 public:
  MatchState()
      : m_match_data(pcre2_match_data_create(1, nullptr)),
        m_context(pcre2_match_context_create(nullptr)),
        m_jit_stack(pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr)) {
    if (!m_match_data || !m_context) fail(ExitCode::internal, "PCRE2: out of memory");
    if (m_jit_stack) pcre2_jit_stack_assign(m_context.get(), nullptr, m_jit_stack.get());
  }
  pcre2_match_data* match_data() const { return m_match_data.get(); }
  pcre2_match_context* context() const { return m_context.get(); }

 private:
  struct Deleter {
    void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
    void operator()(pcre2_match_context* context) const { pcre2_match_context_free(context); }
    void operator()(pcre2_jit_stack* stack) const { pcre2_jit_stack_free(stack); }
  };
  std::unique_ptr<pcre2_match_data, Deleter> m_match_data;
  std::unique_ptr<pcre2_match_context, Deleter> m_context;
  std::unique_ptr<pcre2_jit_stack, Deleter> m_jit_stack;
};

// Cuts `text` at the matches of `regex` and keeps the pieces as `behavior` says (tokenizers'
// NormalizedString::split with a Pattern); appends the non-empty pieces.
void split(const PreTokenizerStep& step, std::string_view text, std::vector<std::string>& out) {
  struct Span {
    std::size_t begin, end;
    bool is_match;
  };
  std::vector<Span> spans;
  std::size_t previous = 0;
  for (auto [begin, end] : step.regex->find_all(text)) {
    if (begin > previous) spans.push_back({previous, begin, step.invert});
    spans.push_back({begin, end, !step.invert});
    previous = end;
  }
  if (previous < text.size()) spans.push_back({previous, text.size(), step.invert});

  // As tokenizers' SplitDelimiterBehavior: a match joins its neighbour only when that neighbour is no match.
  std::vector<std::pair<std::size_t, std::size_t>> kept;
  if (step.behavior == SplitBehavior::merged_with_next) {
    bool next_is_match = false;
    for (auto span = spans.rbegin(); span != spans.rend(); ++span) {
      if (span->is_match && !next_is_match && !kept.empty())
        kept.back().first = span->begin;
      else
        kept.emplace_back(span->begin, span->end);
      next_is_match = span->is_match;
    }
    std::reverse(kept.begin(), kept.end());
  } else {
    bool previous_is_match = false;
    for (const Span& span : spans) {
      bool extend = false;
      if (step.behavior == SplitBehavior::removed && span.is_match) {
        previous_is_match = true;
        continue;
      }
      if (step.behavior == SplitBehavior::merged_with_previous) extend = span.is_match && !previous_is_match;
      if (step.behavior == SplitBehavior::contiguous) extend = span.is_match && previous_is_match;
      if (extend && !kept.empty())
        kept.back().second = span.end;
      else
        kept.emplace_back(span.begin, span.end);
      previous_is_match = span.is_match;
    }
  }
  for (auto [begin, end] : kept)
    if (end > begin) out.emplace_back(text.substr(begin, end - begin));
}

}  // namespace

Regex::Regex(std::string_view pattern, bool literal, std::string_view where) {
  std::string source = literal ? std::string(pattern) : to_pcre2_syntax(pattern);
  std::uint32_t options = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  m_code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options, &error_code,
                             &error_offset, nullptr));
  if (!m_code) {
    fail(ExitCode::bad_input, "{}: PCRE2 cannot compile the pattern {:?} ({} at offset {})", where,
         std::string(pattern), pcre2_message(error_code), error_offset);
  }
  // Without JIT support (some architectures) pcre2_match interprets the pattern instead: slower, same
  // matches.
  pcre2_jit_compile(m_code.get(), PCRE2_JIT_COMPLETE);
}

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  thread_local MatchState state;
  thread_local Subject subject;
  make_subject(text, subject);
  const auto* bytes = reinterpret_cast<PCRE2_SPTR>(subject.text.data());
  const std::size_t size = subject.text.size();
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  std::size_t start = 0;
  while (start <= size) {
    int rc = pcre2_match(m_code.get(), bytes, size, start, PCRE2_NO_UTF_CHECK, state.match_data(),
                         state.context());
    if (rc == PCRE2_ERROR_NOMATCH) break;
    // rc == 0: the ovector has no room for the groups, but it holds the whole match.
    if (rc < 0) fail(ExitCode::internal, "PCRE2 regex search: {}", pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.match_data());
    std::size_t begin = ovector[0];
    std::size_t end = ovector[1];
    if (end > begin) {
      matches.emplace_back(subject.original_offset(begin), subject.original_offset(end));
      start = end;
    } else {
      // After an empty match the search goes on one code point later, as JavaScript's does.
      if (begin >= size) break;
      start = begin + code_point_at(subject.text, begin).length;
    }
  }
  return matches;
}

void pre_tokenize(std::span<const PreTokenizerStep> steps, std::string_view text,
                  std::vector<std::string>& pieces) {
  std::vector<std::string> current;
  current.emplace_back(text);
  std::vector<std::string> next;
  for (const PreTokenizerStep& step : steps) {
    next.clear();
    for (std::string& piece : current) {
      if (step.kind == PreTokenizerStep::Kind::byte_level && step.add_prefix_space && !piece.starts_with(' '))
        piece.insert(piece.begin(), ' ');
      if (step.regex)
        split(step, piece, next);
      else
        next.push_back(std::move(piece));
    }
    std::swap(current, next);
  }
  for (std::string& piece : current)
    if (!piece.empty()) pieces.push_back(std::move(piece));
}

const std::array<char32_t, 256>& byte_to_char() {
  // GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the others for U+0100 onwards.
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> map{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      map[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
    return map;
  }();
  return table;
}

std::string bytes_to_token_text(std::string_view bytes) {
  const auto& table = byte_to_char();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char byte : bytes) append_utf8(out, table[static_cast<unsigned char>(byte)]);
  return out;
}

}  // namespace medcode::text::bpe
