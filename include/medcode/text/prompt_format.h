// The prompt format shared by tokenize, train and predict: a prompt that asks for the codes of a text and a
// completion that lists them, as one token sequence with a loss mask.
//
//   <s> Predict the medical codes for the following text: {text} <|codes|> [<think> why </think>] E11.65 , I10 </s>
//   └──────────────────── prompt (mask 0) ──────────────────────────────┘ └──────── completion (mask 1) ────────┘
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/text/tokenizer.h"

namespace medcode::text {

inline constexpr std::string_view k_prompt_prefix = "Predict the medical codes for the following text: ";

struct PromptExample {
  std::vector<std::int32_t> ids;
  std::vector<std::uint8_t> loss_mask;  // 1 on completion tokens (and the closing </s>), 0 on the prompt
  std::size_t n_prompt = 0;             // tokens up to and including <|codes|>
  bool truncated = false;               // the text was cut to fit max_length
};

// The prompt's tokens: <s>, the prefix and text, <|codes|>. The text is cut from its end so that at most
// `max_prompt_tokens` remain (0: no limit); `truncated` says whether it was.
std::vector<std::int32_t> encode_prompt(const Tokenizer& tokenizer, std::string_view text,
                                        std::size_t max_prompt_tokens = 0, bool* truncated = nullptr);
// One code's tokens inside a completion; the same sequence the constrained decoder's trie holds.
std::vector<std::int32_t> encode_code(const Tokenizer& tokenizer, std::string_view code);
// The completion: optional rationale between <think> and </think>, then the codes joined by the separator
// piece, then </s>.
std::vector<std::int32_t> encode_completion(const Tokenizer& tokenizer, const std::vector<std::string>& codes,
                                            const std::optional<std::string>& rationale = std::nullopt);
// The whole example. The prompt's text is shortened first when the example would exceed `max_length`; an
// example whose completion alone does not fit is returned with `ids` empty.
PromptExample build_example(const Tokenizer& tokenizer, std::string_view text,
                            const std::vector<std::string>& codes,
                            const std::optional<std::string>& rationale, std::size_t max_length);

}  // namespace medcode::text
