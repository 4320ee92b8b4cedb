// Preference pairs for DPO, from the dpo.jsonl that `export` writes ({prompt, chosen, rejected, split} per
// line), tokenized in a pretrained base's tokenizer and chat format exactly as `tokenize --base` tokenizes
// supervised examples: the prompt, then the answer the model writes after it. An answer is its code: the
// first word of export's "E11.9 Type 2 diabetes mellitus…", so the preference is over what `predict` decodes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "medcode/text/bpe_tokenizer.h"
#include "medcode/text/chat_template.h"
#include "medcode/text/token_set.h"

namespace medcode::model {

struct PreferencePairs {
  // chosen[i] and rejected[i] are one pair: the same prompt with either answer (loss mask on the answer)
  std::vector<text::TokenizedExample> train_chosen, train_rejected;
  std::vector<text::TokenizedExample> val_chosen, val_rejected;
  std::int64_t skipped = 0;  // both answers the same code, or no room for the answer
  std::int64_t truncated = 0;
};

// Error(bad_input) naming the file and line for a line that is not a JSON object with string prompt, chosen
// and rejected; Error(bad_input) when no training pair is left. Lines of split "test" are left out.
PreferencePairs read_preference_pairs(const std::filesystem::path& path, const text::BpeTokenizer& tokenizer,
                                      const text::ChatTemplate& chat, std::size_t max_length);

}  // namespace medcode::model
