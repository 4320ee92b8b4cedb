// Prompt–completion pairs for a pretrained base: the base's own tokenizer (tokenizer.json) and chat format,
//
//   {chat prompt: user = "Predict the medical codes for the following text: {text}"}  {completion: codes, end of turn}
//   └──────────────────────────── loss mask 0 ─────────────────────────────────┘  └────── loss mask 1 ──────┘
//
// The prompt and the completion are encoded apart, as prediction sees them: the prompt, then what the model
// writes after it. Special tokens in the rendered text (<|im_start|>, <|eot_id|>) are matched as such.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/text/bpe_tokenizer.h"
#include "medcode/text/chat_template.h"
#include "medcode/text/prompt_format.h"

namespace medcode::text {

// The completion's text: the codes joined by ", ".
std::string codes_answer(const std::vector<std::string>& codes);

// The prompt's tokens for `text`, cut from the text's end (at a token boundary) so that at most
// `max_prompt_tokens` remain (0: no limit); `truncated` says whether it was.
std::vector<std::int32_t> encode_chat_prompt(const BpeTokenizer& tokenizer, const ChatTemplate& chat,
                                             std::string_view text, std::size_t max_prompt_tokens = 0,
                                             bool* truncated = nullptr);

// The whole example; `ids` empty when the completion and the prompt without text do not fit `max_length`.
PromptExample build_chat_example(const BpeTokenizer& tokenizer, const ChatTemplate& chat, std::string_view text,
                                 const std::vector<std::string>& codes,
                                 const std::optional<std::string>& rationale, std::size_t max_length);

}  // namespace medcode::text
