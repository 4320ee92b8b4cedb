// A byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (GPT-2, Llama-3, Qwen2/Qwen3 and their
// kin): added tokens, normalizer, pre-tokenizer, BPE merges, post-processor and decoder as the `tokenizers`
// library runs them. Format: https://huggingface.co/docs/tokenizers/api/pipeline and the library's serde
// code. Token ids match the reference @lenml/tokenizers 3.7.2 (tests/unit/text/bpe_conformance_test.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::text {

// A token matched in the text before pre-tokenization (`added_tokens` in tokenizer.json).
struct AddedToken {
  std::int32_t id = -1;
  std::string content;
  bool special = false;      // dropped by decode(skip_special_tokens = true)
  bool lstrip = false;       // swallows the whitespace on its left
  bool rstrip = false;       // swallows the whitespace on its right
  bool single_word = false;  // matches only when not inside a word
  bool normalized = false;   // matched in the normalized text rather than the raw text
};

class BpeTokenizer {
 public:
  // Error(bad_input) naming the file and the key at fault: a missing or unreadable file, bad JSON, a model
  // other than byte-level BPE, a missing key, or a normalizer, pre-tokenizer or processor it does not run.
  static BpeTokenizer load(const std::filesystem::path& tokenizer_json);

  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;
  ~BpeTokenizer();

  // Thread-safe. Added tokens in `text` (special or not) become their ids, as in the `tokenizers` library.
  // add_special_tokens: wraps the ids as the post-processor says (e.g. a BOS for Llama-3's
  // TemplateProcessing).
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens = false) const;
  // The bytes the ids stand for: decode(encode(x)) == x for any valid UTF-8 x. A run of ids that ends inside
  // a multi-byte character yields its bytes as they are (no U+FFFD), so that a streaming caller can join
  // pieces.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const;

  // -1 when the token is neither in the vocabulary nor an added token.
  std::int32_t token_to_id(std::string_view token) const;
  // The token as tokenizer.json spells it (byte-level form, e.g. "Ġthe"); empty for an id out of range.
  std::string id_to_token(std::int32_t id) const;
  // One more than the largest id, added tokens included.
  int vocab_size() const;
  const std::vector<AddedToken>& added_tokens() const;
  // From the post-processor's template, else from a tokenizer_config.json beside the file.
  std::optional<std::int32_t> bos_id() const;
  std::optional<std::int32_t> eos_id() const;

  const std::filesystem::path& path() const;
  // SHA-256 of tokenizer.json: a checkpoint and a token set match when theirs agree.
  const std::string& sha256() const;

  struct Impl;

 private:
  explicit BpeTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace medcode::text
