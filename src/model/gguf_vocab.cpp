// A GGUF's tokenizer metadata from a model's own tokenizer, to llama.cpp's conventions (its convert_hf_to_gguf.py
// and llama-vocab.cpp): see gguf_vocab.h for which tokenizer becomes which llama.cpp tokenizer.
#include "medcode/model/gguf_vocab.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>
#include <regex>

#include "medcode/model/gguf.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"

namespace medcode::model {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The regexes of tokenizer.json's Split pre-tokenizers that llama.cpp knows under a name (llama-vocab.cpp's
// pre-tokenizer types): a model whose split is one of these tokenizes in llama.cpp exactly as in transformers.
const std::map<std::string, std::string>& known_split_patterns() {
  static const std::map<std::string, std::string> patterns = {
      {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       "llama-bpe"},
      {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       "qwen2"},
  };
  return patterns;
}

json read_json_file(const fs::path& path) {
  try {
    return json::parse(util::read_file(path));
  } catch (const json::exception& e) {
    fail(ExitCode::bad_input, "{}: not valid JSON: {}", path.string(), e.what());
  }
}

// A token named in tokenizer_config.json: a string, or an AddedToken object with "content".
std::optional<std::string> config_token(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& value = config.at(key);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value.at("content").is_string())
    return value.at("content").get<std::string>();
  return std::nullopt;
}

// llama.cpp's name for a byte-level pre-tokenizer; "" when it has none.
std::string llama_cpp_pre_tokenizer(const json& node) {
  std::vector<std::string> steps;
  auto collect = [&](const auto& self, const json& n) -> bool {
    if (n.is_null()) return true;
    const std::string type = n.value("type", "");
    if (type == "Sequence") {
      for (const json& child : n.value("pretokenizers", json::array()))
        if (!self(self, child)) return false;
      return true;
    }
    if (type == "Split" && n.contains("pattern") && n["pattern"].contains("Regex")) {
      steps.push_back("split:" + n["pattern"]["Regex"].get<std::string>());
      return true;
    }
    if (type == "Digits") {
      steps.push_back(n.value("individual_digits", false) ? "digits" : "digit-runs");
      return true;
    }
    if (type == "ByteLevel") {
      if (n.value("add_prefix_space", true)) return false;
      steps.push_back(n.value("use_regex", true) ? "bytelevel+gpt2" : "bytelevel");
      return true;
    }
    return false;
  };
  if (!collect(collect, node)) return "";
  if (steps.size() == 1 && steps[0] == "bytelevel+gpt2") return "gpt-2";
  // SmolLM2's: each digit alone, then GPT-2's split
  if (steps.size() == 2 && steps[0] == "digits" && steps[1] == "bytelevel+gpt2") return "smollm";
  if (steps.size() == 2 && steps[1] == "bytelevel" && steps[0].starts_with("split:")) {
    auto it = known_split_patterns().find(steps[0].substr(6));
    if (it != known_split_patterns().end()) return it->second;
  }
  return "";
}

bool is_byte_token(const std::string& token) {
  static const std::regex byte_pattern("<0x[0-9A-Fa-f]{2}>");
  return std::regex_match(token, byte_pattern);
}

// SentencePiece's BPE as tokenizer.json spells it: the normalizer writes spaces as "▁" (and prepends one).
bool is_sentencepiece_bpe(const json& root) {
  const json& model = root.at("model");
  if (model.value("byte_fallback", false)) return true;
  const std::string dump = root.value("normalizer", json()).dump();
  return dump.find("\\u2581") != std::string::npos || dump.find("\xe2\x96\x81") != std::string::npos;
}

std::optional<std::int32_t> id_of(const std::vector<std::string>& tokens, const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] == *text) return static_cast<std::int32_t>(i);
  return std::nullopt;
}

// End-of-turn tokens llama.cpp also stops at; naming them keeps a chat model from running past its turn.
std::optional<std::int32_t> end_of_turn(const std::vector<std::string>& tokens) {
  for (const char* text : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>"}) {
    if (auto id = id_of(tokens, std::string(text))) return id;
  }
  return std::nullopt;
}

}  // namespace

GgufVocab gguf_vocab_from_tokenizer_json(const fs::path& tokenizer_json, std::int64_t vocab_size) {
  const json root = read_json_file(tokenizer_json);
  const fs::path config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
  const json config = fs::is_regular_file(config_path) ? read_json_file(config_path) : json::object();
  auto bad = [&](const std::string& key, const std::string& what) {
    fail(ExitCode::bad_input, "{}: {}: {}", tokenizer_json.string(), key, what);
  };
  if (!root.contains("model") || !root["model"].is_object()) bad("model", "missing");
  const json& model = root["model"];
  if (model.value("type", "") != "BPE") bad("model.type", "'" + model.value("type", "") + "' (GGUF export takes BPE tokenizers)");
  if (!model.contains("vocab") || !model["vocab"].is_object()) bad("model.vocab", "missing");

  GgufVocab vocab;
  const bool sentencepiece = is_sentencepiece_bpe(root);
  vocab.model = sentencepiece ? "llama" : "gpt2";

  // ids → tokens, the added tokens included
  std::map<std::int64_t, std::string> by_id;
  for (const auto& [text, id] : model["vocab"].items()) by_id[id.get<std::int64_t>()] = text;
  std::map<std::int64_t, bool> added_special;
  for (const json& added : root.value("added_tokens", json::array())) {
    const auto id = added.at("id").get<std::int64_t>();
    by_id[id] = added.at("content").get<std::string>();
    added_special[id] = added.value("special", false);
  }
  const std::int64_t largest = by_id.empty() ? -1 : by_id.rbegin()->first;
  if (largest >= vocab_size) {
    bad("model.vocab", fmt::format("id {} is past the model's {} embedding rows", largest, vocab_size));
  }
  vocab.tokens.resize(static_cast<std::size_t>(vocab_size));
  vocab.types.resize(static_cast<std::size_t>(vocab_size), static_cast<std::int32_t>(GgufTokenType::normal));
  std::int64_t padded = 0;
  for (std::int64_t id = 0; id < vocab_size; ++id) {
    auto& token = vocab.tokens[static_cast<std::size_t>(id)];
    auto& type = vocab.types[static_cast<std::size_t>(id)];
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      token = fmt::format("[PAD{}]", id);
      type = static_cast<std::int32_t>(GgufTokenType::unused);
      ++padded;
      continue;
    }
    token = it->second;
    if (auto added = added_special.find(id); added != added_special.end()) {
      type = static_cast<std::int32_t>(added->second ? GgufTokenType::control : GgufTokenType::user_defined);
    } else if (sentencepiece && is_byte_token(token)) {
      type = static_cast<std::int32_t>(GgufTokenType::byte);
    }
  }
  if (padded > 0) {
    vocab.notes.push_back(fmt::format("{} ids without a token (the embedding has {} rows) written as unused "
                                      "[PAD] tokens", padded, vocab_size));
  }

  // merges: "left right" strings, or [left, right] pairs in newer files
  std::vector<std::pair<std::string, std::string>> merges;
  for (const json& merge : model.value("merges", json::array())) {
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const auto space = text.find(' ');
      if (space == std::string::npos) bad("model.merges", "a merge without a space: " + merge.dump());
      merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2) {
      merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      bad("model.merges", "an entry that is neither \"a b\" nor [a, b]: " + merge.dump());
    }
  }

  if (sentencepiece) {
    // llama.cpp's SentencePiece tokenizer merges the adjacent pair whose result scores highest: a merge's rank,
    // negated, as its result's score gives the order BPE merges in.
    vocab.scores.assign(static_cast<std::size_t>(vocab_size), 0.0f);
    std::map<std::string, std::int64_t> id_of_text;
    for (const auto& [id, text] : by_id) id_of_text.emplace(text, id);
    std::vector<bool> scored(static_cast<std::size_t>(vocab_size), false);
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      auto it = id_of_text.find(merges[rank].first + merges[rank].second);
      if (it == id_of_text.end()) continue;
      auto index = static_cast<std::size_t>(it->second);
      if (scored[index]) continue;
      scored[index] = true;
      vocab.scores[index] = -static_cast<float>(rank);
    }
    // tokens no merge makes (characters, bytes, specials) never win a merge
    for (std::size_t i = 0; i < scored.size(); ++i)
      if (!scored[i]) vocab.scores[i] = -1e9f;
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      vocab.unk = id_of(vocab.tokens, model["unk_token"].get<std::string>());
      if (vocab.unk) vocab.types[static_cast<std::size_t>(*vocab.unk)] = static_cast<std::int32_t>(GgufTokenType::unknown);
    }
    vocab.add_space_prefix = root.value("normalizer", json()).dump().find("Prepend") != std::string::npos;
  } else {
    vocab.pre = llama_cpp_pre_tokenizer(root.value("pre_tokenizer", json()));
    if (vocab.pre.empty()) {
      bad("pre_tokenizer", "no llama.cpp pre-tokenizer splits text as this one does (known: the GPT-2, Llama 3, "
          "Qwen2 and SmolLM2 splits); export --format hf instead");
    }
    for (const auto& [left, right] : merges) {
      if (left.find(' ') != std::string::npos || right.find(' ') != std::string::npos)
        bad("model.merges", "a token with a space, which llama.cpp's merges cannot hold: " + left + " " + right);
      vocab.merges.push_back(left + " " + right);
    }
  }

  vocab.bos = id_of(vocab.tokens, config_token(config, "bos_token"));
  vocab.eos = id_of(vocab.tokens, config_token(config, "eos_token"));
  vocab.pad = id_of(vocab.tokens, config_token(config, "pad_token"));
  if (!vocab.unk) vocab.unk = id_of(vocab.tokens, config_token(config, "unk_token"));
  vocab.eot = end_of_turn(vocab.tokens);
  if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
    vocab.add_bos = config["add_bos_token"].get<bool>();
  } else {
    // a TemplateProcessing that puts a BOS before the text (Llama 3)
    const std::string processor = root.value("post_processor", json()).dump();
    vocab.add_bos = vocab.bos && processor.find("TemplateProcessing") != std::string::npos &&
                    processor.find(json(vocab.tokens[static_cast<std::size_t>(*vocab.bos)]).dump()) != std::string::npos;
  }
  if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean())
    vocab.add_eos = config["add_eos_token"].get<bool>();
  return vocab;
}

GgufVocab gguf_vocab_from_sentencepiece(const fs::path& path, std::int64_t vocab_size) {
  const SentencePieceModel model = read_sentencepiece_model(path);
  if (static_cast<std::int64_t>(model.pieces.size()) != vocab_size) {
    fail(ExitCode::bad_input, "{}: {} pieces, but the model's embedding has {} rows", path.string(),
         model.pieces.size(), vocab_size);
  }
  GgufVocab vocab;
  if (model.model_type == 2) {
    vocab.model = "llama";
    if (!model.byte_fallback) {
      vocab.notes.push_back(
          "the SentencePiece BPE vocabulary has no byte fallback: llama.cpp stops on a character outside it "
          "(a unigram tokenizer, tokenize's default, maps such characters to <unk> instead)");
    }
  } else if (model.model_type == 1) {
    // llama.cpp's own SentencePiece tokenizer is BPE's merge loop; its unigram one (written for T5) runs
    // SentencePiece's Viterbi search and normalizer, which a unigram model needs to split text the same way.
    vocab.model = "t5";
    vocab.precompiled_charsmap = model.precompiled_charsmap;
    vocab.remove_extra_whitespaces = model.remove_extra_whitespaces;
  } else {
    fail(ExitCode::bad_input, "{}: a SentencePiece model of type {} (only unigram and BPE export to GGUF)",
         path.string(), model.model_type);
  }
  vocab.add_space_prefix = model.add_dummy_prefix;
  for (const auto& piece : model.pieces) {
    vocab.tokens.push_back(piece.text);
    vocab.scores.push_back(piece.score);
    vocab.types.push_back(piece.type);
  }
  auto find_type = [&](GgufTokenType type) -> std::optional<std::int32_t> {
    for (std::size_t i = 0; i < vocab.types.size(); ++i)
      if (vocab.types[i] == static_cast<std::int32_t>(type)) return static_cast<std::int32_t>(i);
    return std::nullopt;
  };
  vocab.unk = find_type(GgufTokenType::unknown);
  vocab.pad = id_of(vocab.tokens, std::string("<pad>"));
  vocab.bos = id_of(vocab.tokens, std::string("<s>"));
  vocab.eos = id_of(vocab.tokens, std::string("</s>"));
  vocab.add_bos = true;
  return vocab;
}

void add_gguf_vocab(GgufWriter& writer, const GgufVocab& vocab) {
  writer.add_string("tokenizer.ggml.model", vocab.model);
  if (!vocab.pre.empty()) writer.add_string("tokenizer.ggml.pre", vocab.pre);
  writer.add_string_array("tokenizer.ggml.tokens", vocab.tokens);
  if (!vocab.scores.empty()) writer.add_float32_array("tokenizer.ggml.scores", vocab.scores);
  writer.add_int32_array("tokenizer.ggml.token_type", vocab.types);
  if (!vocab.merges.empty()) writer.add_string_array("tokenizer.ggml.merges", vocab.merges);
  auto id = [&](const char* key, const std::optional<std::int32_t>& value) {
    if (value) writer.add_uint32(key, static_cast<std::uint32_t>(*value));
  };
  id("tokenizer.ggml.bos_token_id", vocab.bos);
  id("tokenizer.ggml.eos_token_id", vocab.eos);
  id("tokenizer.ggml.unknown_token_id", vocab.unk);
  id("tokenizer.ggml.padding_token_id", vocab.pad);
  id("tokenizer.ggml.eot_token_id", vocab.eot);
  writer.add_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
  writer.add_bool("tokenizer.ggml.add_eos_token", vocab.add_eos);
  if (vocab.add_space_prefix) writer.add_bool("tokenizer.ggml.add_space_prefix", *vocab.add_space_prefix);
  if (vocab.remove_extra_whitespaces)
    writer.add_bool("tokenizer.ggml.remove_extra_whitespaces", *vocab.remove_extra_whitespaces);
  if (!vocab.precompiled_charsmap.empty()) {
    writer.add_uint8_array("tokenizer.ggml.precompiled_charsmap",
                           std::vector<std::uint8_t>(vocab.precompiled_charsmap.begin(), vocab.precompiled_charsmap.end()));
  }
  if (vocab.chat_template) writer.add_string("tokenizer.chat_template", *vocab.chat_template);
}

}  // namespace medcode::model
