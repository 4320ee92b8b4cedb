// Decoding codes from the transformer: greedy, sampled or beam search over a KV cache, batched over inputs,
// and optionally constrained by a trie of the release's valid codes so that every code emitted exists.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "medcode/model/transformer.h"
#include "medcode/text/tokenizer.h"

namespace medcode::model {

// The token sequences of valid codes (encode_code of each), as a trie.
class CodeTrie {
 public:
  CodeTrie();
  // Codes that encode to an empty sequence or to a sequence already present are skipped.
  void add(const std::vector<std::int32_t>& tokens, std::string code);
  static CodeTrie build(const text::Tokenizer& tokenizer, const std::vector<std::string>& codes);

  static constexpr std::int32_t k_root = 0;
  // Next tokens allowed from `node`, in token order.
  const std::vector<std::int32_t>& next_tokens(std::int32_t node) const { return m_nodes[node].tokens; }
  // The child of `node` along `token`, or -1.
  std::int32_t child(std::int32_t node, std::int32_t token) const;
  // The code that ends at `node`, or nullptr.
  const std::string* code_at(std::int32_t node) const;
  std::size_t size() const { return m_codes; }

 private:
  struct Node {
    std::vector<std::int32_t> tokens;    // sorted
    std::vector<std::int32_t> children;  // parallel to tokens
    std::int32_t code = -1;              // index into m_code_names
  };
  std::vector<Node> m_nodes;
  std::vector<std::string> m_code_names;
  std::size_t m_codes = 0;
};

// What decoding needs of a tokenizer: medcode's own (the <|sep|> separator, </s>, <think>…</think>) or a
// pretrained base's (",", the end of the chat turn and the model's end-of-text tokens).
struct DecodeVocabulary {
  std::function<std::string(std::span<const std::int32_t>)> detokenize;
  std::int32_t separator = -1;     // between two codes
  std::vector<std::int32_t> ends;  // any of them ends the completion
  std::int32_t think_open = -1;    // unconstrained output between these two is reasoning, not codes
  std::int32_t think_close = -1;
  std::int32_t pad = 0;            // fills the left of shorter prompts (masked out)

  static DecodeVocabulary of(const text::Tokenizer& tokenizer);
  bool is_end(std::int32_t token) const;
};

struct DecodeOptions {
  std::size_t beam_size = 1;        // 1: greedy
  std::size_t max_new_tokens = 64;
  std::size_t max_codes = 8;        // a completion ends after this many codes
  const CodeTrie* trie = nullptr;   // constrained decoding when set
  // The codes after a separator, when they encode differently from the first (", E11.9" gives " E", "11", …
  // in a byte-level BPE); null: `trie` throughout.
  const CodeTrie* later_trie = nullptr;
  // Sampling instead of the most probable token, with beam_size 1 only: each token is drawn from the model's
  // distribution over the tokens the grammar allows, sharpened or flattened by `temperature` (0: greedy) and
  // cut to the most probable tokens that hold `top_p` of it (nucleus sampling, 0 < top_p <= 1). Each prompt
  // draws from its own generator, seeded by `seed` and the prompt's tokens, so that a text's completion does
  // not depend on the batch it is decoded in.
  double temperature = 0;
  double top_p = 1;
  std::uint64_t seed = 42;
};

struct DecodedCode {
  std::string code;
  double score = 0;  // the model's probability of the code's tokens, given what came before
};

struct Decoded {
  std::vector<DecodedCode> codes;  // the best sequence's codes, in order, without repeats
  std::vector<DecodedCode> ranked; // codes and then the other beams' codes, for @k metrics
  double log_probability = 0;      // of the best sequence
  std::size_t n_generated = 0;     // tokens generated for the best sequence
  std::string completion;          // the best sequence's decoded text
  std::vector<std::int32_t> tokens;  // the best sequence's tokens
};

// Decodes a completion for each prompt (token ids ending where the answer starts: <|codes|>, or the chat
// format's assistant header). Prompts are left-padded into one batch; the model is put in eval mode.
std::vector<Decoded> decode(Transformer& model, const DecodeVocabulary& vocabulary,
                            const std::vector<std::vector<std::int32_t>>& prompts, const DecodeOptions& options);
std::vector<Decoded> decode(Transformer& model, const text::Tokenizer& tokenizer,
                            const std::vector<std::vector<std::int32_t>>& prompts, const DecodeOptions& options);

}  // namespace medcode::model
