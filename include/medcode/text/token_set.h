// Token sets in the store: the tokenized examples `tokenize` writes and `train` reads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "medcode/store/database.h"

namespace medcode::text {

struct TokenSetInfo {
  std::int64_t id = 0;
  std::string name;
  std::filesystem::path tokenizer_path;
  std::string tokenizer_sha256;
  int vocab_size = 0;
  int max_length = 0;
  nlohmann::json stats;  // per split: examples, tokens, min/mean/p50/p95/max length, truncated, dropped
  nlohmann::json source = nlohmann::json::array();  // the dataset files it was built from
  std::string created_at;
  // "medcode": medcode's own prompt layout on a SentencePiece tokenizer (prompt_format.h); otherwise the chat
  // format of the pretrained base whose tokenizer.json built it (chat_example.h).
  std::string prompt_format = "medcode";
};

struct TokenizedExample {
  std::int64_t id = 0;
  std::string split;
  std::string text;
  std::vector<std::string> codes;
  std::vector<std::int32_t> input_ids;
  std::vector<std::uint8_t> loss_mask;
  std::size_t n_prompt = 0;
  bool truncated = false;  // the text was cut to fit max_length
};

// Stores a token set and its examples (in the order given) in one transaction, replacing the token set of the
// same name with its examples; returns its id. The ids of `info` and `examples` are ignored.
std::int64_t save_token_set(store::Database& db, const TokenSetInfo& info,
                            const std::vector<TokenizedExample>& examples,
                            std::optional<std::int64_t> run_id = std::nullopt);

// Error(usage) naming the token sets the store holds when `name` is not one of them.
TokenSetInfo find_token_set(store::Database& db, const std::string& name);
std::vector<TokenSetInfo> list_token_sets(store::Database& db);
// The examples of one split (train, val, test or corpus) in their stored order; all splits when empty.
std::vector<TokenizedExample> load_token_examples(store::Database& db, std::int64_t token_set_id,
                                                  std::string_view split = {});

}  // namespace medcode::text
