// Prompt–completion pairs in a pretrained base's chat format (chat_example.h).
#include "medcode/text/chat_example.h"

#include <algorithm>

#include "medcode/util/utf8.h"

namespace medcode::text {

namespace {

std::vector<std::int32_t> encode_prompt_text(const BpeTokenizer& tokenizer, const ChatTemplate& chat,
                                             std::string_view text) {
  std::string user(k_prompt_prefix);
  user.append(text);
  return tokenizer.encode(chat.prompt("", user));
}

}  // namespace

std::string codes_answer(const std::vector<std::string>& codes) {
  std::string answer;
  for (std::size_t i = 0; i < codes.size(); ++i) answer += (i ? ", " : "") + codes[i];
  return answer;
}

std::vector<std::int32_t> encode_chat_prompt(const BpeTokenizer& tokenizer, const ChatTemplate& chat,
                                             std::string_view text, std::size_t max_prompt_tokens,
                                             bool* truncated) {
  std::vector<std::int32_t> ids = encode_prompt_text(tokenizer, chat, text);
  if (truncated) *truncated = false;
  if (max_prompt_tokens == 0 || ids.size() <= max_prompt_tokens) return ids;
  // The text keeps as many of its own tokens as leave room for the template around it; a cut can merge
  // across the boundary differently, so the count is checked again and lowered until it fits.
  std::vector<std::int32_t> text_ids = tokenizer.encode(text);
  std::size_t overhead = ids.size() > text_ids.size() ? ids.size() - text_ids.size() : 0;
  std::size_t keep = max_prompt_tokens > overhead ? max_prompt_tokens - overhead : 0;
  while (true) {
    keep = std::min(keep, text_ids.size());
    std::string cut = tokenizer.decode(std::span(text_ids.data(), keep));
    // A character split between tokens goes whole.
    if (std::size_t bad = util::first_invalid_utf8(cut); bad != std::string::npos) cut.resize(bad);
    ids = encode_prompt_text(tokenizer, chat, cut);
    if (ids.size() <= max_prompt_tokens || keep == 0) break;
    keep -= std::min<std::size_t>(keep, ids.size() - max_prompt_tokens);
  }
  if (truncated) *truncated = true;
  return ids;
}

PromptExample build_chat_example(const BpeTokenizer& tokenizer, const ChatTemplate& chat, std::string_view text,
                                 const std::vector<std::string>& codes,
                                 const std::optional<std::string>& rationale, std::size_t max_length) {
  PromptExample example;
  std::vector<std::int32_t> completion = tokenizer.encode(chat.completion(codes_answer(codes), rationale));
  std::size_t minimal_prompt = encode_prompt_text(tokenizer, chat, "").size();
  if (completion.size() + minimal_prompt > max_length) return example;
  std::vector<std::int32_t> prompt =
      encode_chat_prompt(tokenizer, chat, text, max_length - completion.size(), &example.truncated);
  if (prompt.size() + completion.size() > max_length) return example;  // a text that cannot be cut to fit
  example.n_prompt = prompt.size();
  example.ids = std::move(prompt);
  example.ids.insert(example.ids.end(), completion.begin(), completion.end());
  example.loss_mask.assign(example.ids.size(), 0);
  std::fill(example.loss_mask.begin() + static_cast<std::ptrdiff_t>(example.n_prompt), example.loss_mask.end(), 1);
  return example;
}

}  // namespace medcode::text
