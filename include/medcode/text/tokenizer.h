// A SentencePiece tokenizer: training a model (unigram or BPE) and encoding and decoding with it.
//
// SentencePiece is reached through a small plugin library (libmedcode_sentencepiece.so) opened with
// RTLD_LOCAL | RTLD_DEEPBIND: Debian's libsentencepiece carries a private protobuf 3.14 whose exported symbols
// would otherwise bind to the protobuf 3.21 that LibTorch loads, and the two runtimes abort in one process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::text {

// The special pieces every medcode tokenizer has, at fixed ids.
inline constexpr std::int32_t k_pad_id = 0;
inline constexpr std::int32_t k_unk_id = 1;
inline constexpr std::int32_t k_bos_id = 2;
inline constexpr std::int32_t k_eos_id = 3;
// User-defined pieces, always one token: the prompt format's separator between prompt and completion, the
// rationale markers and the comma that separates codes in a completion.
inline constexpr std::string_view k_completion_piece = "<|codes|>";
inline constexpr std::string_view k_think_open_piece = "<think>";
inline constexpr std::string_view k_think_close_piece = "</think>";
inline constexpr std::string_view k_code_separator_piece = ",";

struct TokenizerTrainOptions {
  std::vector<std::string> texts;  // one sentence each
  std::filesystem::path model_path;  // the .model file written (and a .vocab beside it)
  int vocab_size = 4000;
  std::string model_type = "unigram";  // unigram | bpe
  int threads = 2;  // the model's scores depend on it: keep it fixed for reproducible models
  std::uint64_t seed = 42;
};

class Tokenizer {
 public:
  // Error(bad_input) naming the file when it is missing or not a SentencePiece model; Error(internal) when the
  // plugin cannot be found (the message names the places searched).
  static Tokenizer load(const std::filesystem::path& model_path);
  // Trains a model on `options.texts`; Error(bad_input) when there is too little text for the vocabulary.
  static void train(const TokenizerTrainOptions& options);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Thread-safe: several threads may encode with one tokenizer.
  std::vector<std::int32_t> encode(std::string_view text) const;
  std::string decode(std::span<const std::int32_t> ids) const;
  std::string id_to_piece(std::int32_t id) const;
  // -1 when the piece is not in the vocabulary.
  std::int32_t piece_to_id(std::string_view piece) const;
  int vocab_size() const;

  const std::filesystem::path& path() const { return m_path; }
  // SHA-256 of the .model file: a checkpoint and a token set match when theirs agree.
  const std::string& sha256() const { return m_sha256; }

 private:
  struct Impl;
  Tokenizer(std::unique_ptr<Impl> impl, std::filesystem::path path, std::string sha256);
  static void write_model(const std::filesystem::path& model_path, std::string_view model);
  std::unique_ptr<Impl> m_impl;
  std::filesystem::path m_path;
  std::string m_sha256;
};

}  // namespace medcode::text
