// Reading and tokenizing DPO preference pairs (dpo_data.h).
#include "dpo_data.h"

#include <fstream>

#include "medcode/text/chat_example.h"
#include "medcode/util/error.h"
#include "medcode/util/utf8.h"

namespace medcode::model {

namespace {

std::string first_word(const std::string& answer) {
  std::size_t start = answer.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return {};
  std::size_t end = answer.find_first_of(" \t\r\n", start);
  return answer.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

text::TokenizedExample example_of(const std::vector<std::int32_t>& prompt, const std::vector<std::int32_t>& answer,
                                  const std::string& split, const std::string& code) {
  text::TokenizedExample example;
  example.split = split;
  example.codes = {code};
  example.input_ids = prompt;
  example.input_ids.insert(example.input_ids.end(), answer.begin(), answer.end());
  example.loss_mask.assign(example.input_ids.size(), 0);
  std::fill(example.loss_mask.begin() + static_cast<std::ptrdiff_t>(prompt.size()), example.loss_mask.end(), 1);
  example.n_prompt = prompt.size();
  return example;
}

}  // namespace

PreferencePairs read_preference_pairs(const std::filesystem::path& path, const text::BpeTokenizer& tokenizer,
                                      const text::ChatTemplate& chat, std::size_t max_length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ExitCode::bad_input, "{}: cannot read the preference pairs", path.string());
  PreferencePairs pairs;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (util::first_invalid_utf8(line) != std::string::npos)
      fail(ExitCode::bad_input, "{}: line {}: not valid UTF-8", path.string(), number);
    nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
    if (!json.is_object()) fail(ExitCode::bad_input, "{}: line {}: not a JSON object", path.string(), number);
    for (const char* key : {"prompt", "chosen", "rejected"}) {
      if (!json.contains(key) || !json[key].is_string())
        fail(ExitCode::bad_input, "{}: line {}: `{}` must be a string", path.string(), number, key);
    }
    std::string split = json.contains("split") && json["split"].is_string() ? json["split"].get<std::string>()
                                                                             : std::string("train");
    if (split == "test") continue;
    if (split != "train" && split != "val") {
      fail(ExitCode::bad_input, "{}: line {}: `split` must be train, val or test, not '{}'", path.string(), number,
           split);
    }
    std::string chosen = first_word(json["chosen"].get<std::string>());
    std::string rejected = first_word(json["rejected"].get<std::string>());
    if (chosen.empty() || rejected.empty() || chosen == rejected) {
      ++pairs.skipped;
      continue;
    }
    std::vector<std::int32_t> chosen_ids = tokenizer.encode(chat.completion(chosen, std::nullopt));
    std::vector<std::int32_t> rejected_ids = tokenizer.encode(chat.completion(rejected, std::nullopt));
    const std::size_t longest = std::max(chosen_ids.size(), rejected_ids.size());
    if (longest + 8 > max_length) {
      ++pairs.skipped;
      continue;
    }
    bool cut = false;
    std::vector<std::int32_t> prompt =
        text::encode_chat_prompt(tokenizer, chat, json["prompt"].get<std::string>(), max_length - longest, &cut);
    if (prompt.size() + longest > max_length) {
      ++pairs.skipped;
      continue;
    }
    if (cut) ++pairs.truncated;
    auto& chosen_out = split == "train" ? pairs.train_chosen : pairs.val_chosen;
    auto& rejected_out = split == "train" ? pairs.train_rejected : pairs.val_rejected;
    chosen_out.push_back(example_of(prompt, chosen_ids, split, chosen));
    rejected_out.push_back(example_of(prompt, rejected_ids, split, rejected));
  }
  if (pairs.train_chosen.empty()) {
    fail(ExitCode::bad_input, "{}: no training pair (split train) with two different answers that fit {} tokens",
         path.string(), max_length);
  }
  return pairs;
}

}  // namespace medcode::model
