// The prompt format of prompt_format.h: the token layout of a prompt–completion pair and its loss mask.
#include "medcode/text/prompt_format.h"

#include <algorithm>
#include <string>

#include "medcode/util/error.h"

namespace medcode::text {

namespace {

std::int32_t required_piece(const Tokenizer& tokenizer, std::string_view piece) {
  std::int32_t id = tokenizer.piece_to_id(piece);
  if (id < 0) {
    fail(ExitCode::bad_input, "{}: the tokenizer lacks the piece '{}'", tokenizer.path().string(), piece);
  }
  return id;
}

void append(std::vector<std::int32_t>& ids, const std::vector<std::int32_t>& more) {
  ids.insert(ids.end(), more.begin(), more.end());
}

// The fewest tokens a prompt has: <s>, the prefix and <|codes|>, with no text.
std::size_t minimal_prompt_tokens(const Tokenizer& tokenizer) {
  std::string_view prefix = k_prompt_prefix;
  while (!prefix.empty() && prefix.back() == ' ') prefix.remove_suffix(1);
  return tokenizer.encode(prefix).size() + 2;
}

}  // namespace

std::vector<std::int32_t> encode_prompt(const Tokenizer& tokenizer, std::string_view text,
                                        std::size_t max_prompt_tokens, bool* truncated) {
  std::string body(k_prompt_prefix);
  body.append(text);
  std::vector<std::int32_t> ids{k_bos_id};
  append(ids, tokenizer.encode(body));
  bool cut = false;
  if (max_prompt_tokens > 0 && ids.size() + 1 > max_prompt_tokens) {
    // The text loses tokens from its end; the prefix stays whole even when that overruns the limit.
    std::size_t keep = std::max(max_prompt_tokens, minimal_prompt_tokens(tokenizer)) - 1;
    if (keep < ids.size()) {
      ids.resize(keep);
      cut = true;
    }
  }
  ids.push_back(required_piece(tokenizer, k_completion_piece));
  if (truncated) *truncated = cut;
  return ids;
}

std::vector<std::int32_t> encode_code(const Tokenizer& tokenizer, std::string_view code) {
  return tokenizer.encode(code);
}

std::vector<std::int32_t> encode_completion(const Tokenizer& tokenizer, const std::vector<std::string>& codes,
                                            const std::optional<std::string>& rationale) {
  std::vector<std::int32_t> ids;
  if (rationale) {
    ids.push_back(required_piece(tokenizer, k_think_open_piece));
    append(ids, tokenizer.encode(*rationale));
    ids.push_back(required_piece(tokenizer, k_think_close_piece));
  }
  const std::int32_t separator = required_piece(tokenizer, k_code_separator_piece);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    if (i > 0) ids.push_back(separator);
    append(ids, encode_code(tokenizer, codes[i]));
  }
  ids.push_back(k_eos_id);
  return ids;
}

PromptExample build_example(const Tokenizer& tokenizer, std::string_view text,
                            const std::vector<std::string>& codes,
                            const std::optional<std::string>& rationale, std::size_t max_length) {
  PromptExample example;
  std::vector<std::int32_t> completion = encode_completion(tokenizer, codes, rationale);
  if (completion.size() + minimal_prompt_tokens(tokenizer) > max_length) return example;  // dropped

  std::vector<std::int32_t> prompt =
      encode_prompt(tokenizer, text, max_length - completion.size(), &example.truncated);
  example.n_prompt = prompt.size();
  example.ids = std::move(prompt);
  append(example.ids, completion);
  example.loss_mask.assign(example.ids.size(), 0);
  std::fill(example.loss_mask.begin() + static_cast<std::ptrdiff_t>(example.n_prompt),
            example.loss_mask.end(), std::uint8_t{1});
  return example;
}

}  // namespace medcode::text
