// The tokenizer of a GGUF file, as llama.cpp reads it (llama-vocab.cpp): the `tokenizer.ggml.*` metadata made
// from the tokenizer a model was trained with, so that llama.cpp splits text into the same ids.
//
//   tokenizer.json, byte-level BPE (GPT-2, Llama 3, Qwen2)   → model "gpt2": tokens, types, merges, and `pre`,
//                                                               the name of llama.cpp's pre-tokenizer regexes
//   tokenizer.json, SentencePiece's BPE (Llama 2, Mistral)   → model "llama": tokens, scores from the merges'
//                                                               ranks, types (bytes <0xXX>, control, unknown)
//   medcode's SentencePiece .model, BPE                      → model "llama": its pieces, scores and types
//   medcode's SentencePiece .model, unigram                  → model "t5" (llama.cpp's unigram tokenizer, Viterbi
//                                                               as SentencePiece does, with its normalizer's
//                                                               precompiled character map)
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace medcode::model {

class GgufWriter;

// A SentencePiece ModelProto (sentencepiece_model.proto), the parts llama.cpp needs.
struct SentencePieceModel {
  struct Piece {
    std::string text;
    float score = 0;
    std::int32_t type = 1;  // NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6 (llama.cpp's too)
  };
  std::vector<Piece> pieces;
  std::int32_t model_type = 1;  // TrainerSpec.model_type: UNIGRAM 1, BPE 2, WORD 3, CHAR 4
  bool byte_fallback = false;
  std::string normalizer_name;       // e.g. nmt_nfkc
  std::string precompiled_charsmap;  // the normalizer's rules, as bytes
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Error(bad_input) naming the file when it is missing or not a SentencePiece model.
SentencePieceModel read_sentencepiece_model(const std::filesystem::path& path);

// llama.cpp's token types (llama.h, llama_token_type).
enum class GgufTokenType : std::int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct GgufVocab {
  std::string model;  // gpt2 | llama | t5
  std::string pre;    // gpt2: llama.cpp's pre-tokenizer (llama-bpe, qwen2, gpt-2, smollm, ...)
  std::vector<std::string> tokens;
  std::vector<float> scores;  // llama and t5
  std::vector<std::int32_t> types;
  std::vector<std::string> merges;  // gpt2: "left right", by rank
  std::optional<std::int32_t> bos, eos, unk, pad, eot;
  bool add_bos = false;
  bool add_eos = false;
  std::optional<bool> add_space_prefix;          // llama, t5
  std::optional<bool> remove_extra_whitespaces;  // t5
  std::string precompiled_charsmap;              // t5
  std::optional<std::string> chat_template;
  std::vector<std::string> notes;  // what a user should know (e.g. ids padded to the embedding's rows)
};

// From a Hugging Face folder's tokenizer.json and tokenizer_config.json (bos/eos/pad tokens, add_bos_token).
// The vocabulary is padded to `vocab_size` rows with unused "[PAD{i}]" tokens, as llama.cpp's converter does.
// Error(bad_input) naming the file and key when the model is not BPE, when no llama.cpp pre-tokenizer matches
// the byte-level pre-tokenizer, or when there are more tokens than the embedding has rows.
GgufVocab gguf_vocab_from_tokenizer_json(const std::filesystem::path& tokenizer_json, std::int64_t vocab_size);
// From medcode's own SentencePiece model (pad 0, unk 1, <s> 2, </s> 3).
GgufVocab gguf_vocab_from_sentencepiece(const std::filesystem::path& model, std::int64_t vocab_size);

// Writes the tokenizer.ggml.* keys (and tokenizer.chat_template).
void add_gguf_vocab(GgufWriter& writer, const GgufVocab& vocab);

}  // namespace medcode::model
