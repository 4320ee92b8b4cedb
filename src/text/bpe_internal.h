// The parts of the byte-level BPE tokenizer (bpe_tokenizer.h) shared by its source files: the loaded
// configuration, the pre-tokenizer steps and the merge table.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "medcode/text/bpe_tokenizer.h"

namespace medcode::text::bpe {

// A compiled PCRE2 pattern (JIT-compiled where PCRE2 can); the match data is per thread, so that many threads
// may search with one Regex.
class Regex {
 public:
  // `pattern` in the Oniguruma/Rust syntax of tokenizer.json; `literal` for a Split's {"String": ...}.
  // Error(bad_input) naming `where` when PCRE2 cannot compile it.
  Regex(std::string_view pattern, bool literal, std::string_view where);
  // Byte ranges [begin, end) of the non-empty matches in `text`, in order.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

 private:
  struct CodeDeleter {
    void operator()(pcre2_code* code) const { pcre2_code_free(code); }
  };
  std::unique_ptr<pcre2_code, CodeDeleter> m_code;
};

// prepend and replace are SentencePiece's: "▁" before a non-empty text, and every " " written "▁".
enum class NormalizerStep { nfc, nfd, nfkc, nfkd, lowercase, prepend, replace };

class Normalizer {
 public:
  // `text` is what prepend puts in front; `pattern` and `text` what replace finds and writes.
  void add(NormalizerStep step, std::string pattern = {}, std::string text = {});
  bool empty() const { return m_steps.empty(); }
  std::string apply(std::string_view text) const;

 private:
  struct Step {
    NormalizerStep kind;
    std::string pattern;
    std::string text;
  };
  std::vector<Step> m_steps;
};

// UTF-8 and the few Unicode properties the tokenizer tests outside its regexes (bpe_unicode.cpp).
constexpr char32_t k_replacement_character = 0xFFFD;

// A code point read from UTF-8: `length` bytes; an ill-formed sequence reads as U+FFFD, not `valid`.
struct CodePoint {
  char32_t value = 0;
  std::size_t length = 1;
  bool valid = true;
};

// The code point that starts at `offset` (< text.size()).
CodePoint code_point_at(std::string_view text, std::size_t offset);
// The code point that ends at `offset` (> 0).
CodePoint code_point_before(std::string_view text, std::size_t offset);
bool is_valid_utf8(std::string_view text);
void append_utf8(std::string& out, char32_t c);
// Unicode's White_Space property.
bool is_white_space(char32_t c);
// A letter (L) or decimal digit (Nd).
bool is_letter_or_digit(char32_t c);

// How a Split keeps the pieces its pattern finds (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

struct PreTokenizerStep {
  enum class Kind { split, byte_level } kind = Kind::split;
  std::shared_ptr<const Regex> regex;  // split; byte_level with use_regex (the GPT-2 pattern)
  SplitBehavior behavior = SplitBehavior::isolated;
  bool invert = false;
  bool add_prefix_space = false;  // byte_level
};

// Runs the steps on one stretch of normalized text, appending the pre-tokens (raw bytes, before the
// byte-level mapping) to `pieces`.
void pre_tokenize(std::span<const PreTokenizerStep> steps, std::string_view text,
                  std::vector<std::string>& pieces);

// The GPT-2 byte-to-unicode table: byte b is written as the UTF-8 of byte_to_char()[b].
const std::array<char32_t, 256>& byte_to_char();
std::string bytes_to_token_text(std::string_view bytes);

struct Merge {
  std::int32_t rank = 0;
  std::int32_t merged_id = 0;
};

inline std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
         static_cast<std::uint32_t>(right);
}

// Lets a map keyed by std::string be searched with a std::string_view, without a copy.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

// The BPE model: vocabulary, merges and the per-pre-token cache.
struct Model {
  std::unordered_map<std::string, std::int32_t> vocab;
  std::unordered_map<std::uint64_t, Merge> merges;
  std::array<std::int32_t, 256> byte_ids{};  // the id of each single byte's token; -1 when absent
  std::optional<std::int32_t> unk_id;
  bool ignore_merges = false;
  // SentencePiece's BPE (Llama 2, Mistral): the symbols are characters, not bytes; a character outside the
  // vocabulary becomes the <0xXX> tokens of its bytes (byte_fallback) or <unk>, consecutive ones fused.
  bool characters = false;
  bool byte_fallback = false;
  bool fuse_unk = false;
  std::array<std::int32_t, 256> fallback_ids{};  // the id of <0xXX>; -1 when absent

  // The ids of one pre-token given as raw bytes, appended to `ids`.
  void encode_piece(std::string_view bytes, std::vector<std::int32_t>& ids) const;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>> cache;

 private:
  void merge(std::string_view bytes, std::vector<std::int32_t>& ids) const;
};

}  // namespace medcode::text::bpe

namespace medcode::text {

struct BpeTokenizer::Impl {
  std::filesystem::path path;
  std::string sha256;
  bpe::Model model;
  std::vector<std::string> id_to_token;    // by id; empty where the id is unused
  std::vector<std::string> id_to_bytes;    // what decode writes for each id
  std::vector<std::int8_t> id_is_special;  // by id
  std::vector<AddedToken> added_tokens;
  std::unordered_map<std::string, std::int32_t> added_token_ids;
  std::array<bool, 256> added_first_bytes{};  // bytes that begin some added token: the rest are skipped fast
  bpe::Normalizer normalizer;
  std::vector<bpe::PreTokenizerStep> pre_tokenizer;
  std::vector<std::int32_t> prefix_ids;  // added around the text by encode(add_special_tokens = true)
  std::vector<std::int32_t> suffix_ids;
  std::optional<std::int32_t> bos_id;
  std::optional<std::int32_t> eos_id;
  std::size_t strip_leading_spaces = 0;  // SentencePiece's decoder: the spaces its prepended "▁" became
};

// Reads and checks tokenizer.json (bpe_loader.cpp).
std::unique_ptr<BpeTokenizer::Impl> load_bpe_impl(const std::filesystem::path& path);

}  // namespace medcode::text
