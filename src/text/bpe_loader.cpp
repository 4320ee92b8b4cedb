// Reads a Hugging Face tokenizer.json into the byte-level BPE tokenizer's tables, refusing what it cannot
// run. Format: the serde forms of tokenizers' models/bpe, normalizers, pre_tokenizers, processors and
// decoders.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <string>

#include "bpe_internal.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"

namespace medcode::text {

namespace {

namespace fs = std::filesystem;
using bpe::PreTokenizerStep;
using nlohmann::json;

// GPT-2's pattern, which a ByteLevel pre-tokenizer with use_regex applies.
constexpr std::string_view k_gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Reads keys of one tokenizer.json, failing with the file and the key's dotted path.
class Reader {
 public:
  explicit Reader(const fs::path& path) : m_file(path.string()) {}

  const json& at(const json& object, std::string_view key, std::string_view where) const {
    if (!object.is_object()) fail(ExitCode::bad_input, "{}: {} is not an object", m_file, where);
    auto found = object.find(key);
    if (found == object.end()) fail(ExitCode::bad_input, "{}: missing key {}.{}", m_file, where, key);
    return *found;
  }
  std::string string(const json& object, std::string_view key, std::string_view where) const {
    const json& value = at(object, key, where);
    if (!value.is_string()) fail(ExitCode::bad_input, "{}: {}.{} is not a string", m_file, where, key);
    return value.get<std::string>();
  }
  bool flag(const json& object, std::string_view key, bool fallback) const {
    auto found = object.find(key);
    return found != object.end() && found->is_boolean() ? found->get<bool>() : fallback;
  }
  [[noreturn]] void unsupported(std::string_view where, std::string_view what) const {
    fail(ExitCode::bad_input, "{}: {} {} is not supported", m_file, where, what);
  }
  const std::string& file() const { return m_file; }

 private:
  std::string m_file;
};

void read_model(const Reader& reader, const json& root, bpe::Model& model) {
  const json& node = reader.at(root, "model", "tokenizer");
  std::string type = reader.string(node, "type", "model");
  if (type != "BPE") reader.unsupported("model.type", type);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto found = node.find(key);
    if (found != node.end() && found->is_string() && !found->get<std::string>().empty())
      reader.unsupported(fmt::format("model.{}", key), found->get<std::string>());
  }
  const json& vocab = reader.at(node, "vocab", "model");
  if (!vocab.is_object()) fail(ExitCode::bad_input, "{}: model.vocab is not an object", reader.file());
  model.vocab.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > INT32_MAX)
      fail(ExitCode::bad_input, "{}: model.vocab[{:?}] is not a token id", reader.file(), token);
    model.vocab.emplace(token, id.get<std::int32_t>());
  }
  auto id_of = [&](const std::string& token, std::size_t rank) {
    auto found = model.vocab.find(token);
    if (found == model.vocab.end())
      fail(ExitCode::bad_input, "{}: model.merges[{}] names {:?}, which is not in model.vocab", reader.file(),
           rank, token);
    return found->second;
  };
  const json& merges = reader.at(node, "merges", "model");
  if (!merges.is_array()) fail(ExitCode::bad_input, "{}: model.merges is not an array", reader.file());
  model.merges.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const json& merge = merges[rank];
    std::string left, right;
    if (merge.is_string()) {  // the older "a b" form
      const auto& text = merge.get_ref<const std::string&>();
      std::size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
        fail(ExitCode::bad_input, "{}: model.merges[{}] is not two tokens: {:?}", reader.file(), rank, text);
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      fail(ExitCode::bad_input, "{}: model.merges[{}] is neither \"a b\" nor [\"a\", \"b\"]", reader.file(),
           rank);
    }
    bpe::Merge entry{static_cast<std::int32_t>(rank), id_of(left + right, rank)};
    model.merges.emplace(bpe::pair_key(id_of(left, rank), id_of(right, rank)), entry);  // the first rank wins
  }
  model.ignore_merges = reader.flag(node, "ignore_merges", false);
  model.byte_fallback = reader.flag(node, "byte_fallback", false);
  model.fuse_unk = reader.flag(node, "fuse_unk", false);
  for (std::size_t b = 0; b < 256; ++b) {
    auto found = model.vocab.find(fmt::format("<0x{:02X}>", b));
    model.fallback_ids[b] = found == model.vocab.end() ? -1 : found->second;
  }
  if (model.byte_fallback && std::find(model.fallback_ids.begin(), model.fallback_ids.end(), -1) !=
                                 model.fallback_ids.end())
    fail(ExitCode::bad_input, "{}: model.byte_fallback is set but model.vocab lacks some <0xXX> byte token",
         reader.file());
  if (auto unk = node.find("unk_token"); unk != node.end() && unk->is_string()) {
    if (auto found = model.vocab.find(unk->get<std::string>()); found != model.vocab.end())
      model.unk_id = found->second;
  }
  for (std::size_t b = 0; b < 256; ++b) {
    auto found = model.vocab.find(bpe::bytes_to_token_text(std::string(1, static_cast<char>(b))));
    model.byte_ids[b] = found == model.vocab.end() ? -1 : found->second;
  }
}

void read_added_tokens(const Reader& reader, const json& root, BpeTokenizer::Impl& impl) {
  auto found = root.find("added_tokens");
  if (found == root.end() || found->is_null()) return;
  if (!found->is_array()) fail(ExitCode::bad_input, "{}: added_tokens is not an array", reader.file());
  for (std::size_t i = 0; i < found->size(); ++i) {
    const json& node = (*found)[i];
    std::string where = fmt::format("added_tokens[{}]", i);
    const json& id = reader.at(node, "id", where);
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > INT32_MAX)
      fail(ExitCode::bad_input, "{}: {}.id is not a token id", reader.file(), where);
    AddedToken token{id.get<std::int32_t>(),
                     reader.string(node, "content", where),
                     reader.flag(node, "special", false),
                     reader.flag(node, "lstrip", false),
                     reader.flag(node, "rstrip", false),
                     reader.flag(node, "single_word", false),
                     reader.flag(node, "normalized", false)};
    if (token.content.empty()) fail(ExitCode::bad_input, "{}: {}.content is empty", reader.file(), where);
    impl.added_token_ids[token.content] = token.id;
    impl.added_first_bytes[static_cast<unsigned char>(token.content[0])] = true;
    impl.added_tokens.push_back(std::move(token));
  }
}

void read_normalizer(const Reader& reader, const json& node, std::string_view where,
                     bpe::Normalizer& normalizer) {
  if (node.is_null()) return;
  std::string type = reader.string(node, "type", where);
  if (type == "Sequence") {
    const json& steps = reader.at(node, "normalizers", where);
    for (std::size_t i = 0; i < steps.size(); ++i)
      read_normalizer(reader, steps[i], fmt::format("{}.normalizers[{}]", where, i), normalizer);
  } else if (type == "NFC") {
    normalizer.add(bpe::NormalizerStep::nfc);
  } else if (type == "NFD") {
    normalizer.add(bpe::NormalizerStep::nfd);
  } else if (type == "NFKC") {
    normalizer.add(bpe::NormalizerStep::nfkc);
  } else if (type == "NFKD") {
    normalizer.add(bpe::NormalizerStep::nfkd);
  } else if (type == "Lowercase") {
    normalizer.add(bpe::NormalizerStep::lowercase);
  } else if (type == "Prepend") {
    normalizer.add(bpe::NormalizerStep::prepend, {}, reader.string(node, "prepend", where));
  } else if (type == "Replace") {
    const json& pattern = reader.at(node, "pattern", where);
    if (!pattern.contains("String")) reader.unsupported(fmt::format("{}.pattern", where), pattern.dump());
    normalizer.add(bpe::NormalizerStep::replace, reader.string(pattern, "String", where),
                   reader.string(node, "content", where));
  } else {
    reader.unsupported(fmt::format("{}.type", where), type);
  }
}

bpe::SplitBehavior split_behavior(const Reader& reader, const std::string& name, std::string_view where) {
  if (name == "Removed") return bpe::SplitBehavior::removed;
  if (name == "Isolated") return bpe::SplitBehavior::isolated;
  if (name == "MergedWithPrevious") return bpe::SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return bpe::SplitBehavior::merged_with_next;
  if (name == "Contiguous") return bpe::SplitBehavior::contiguous;
  reader.unsupported(fmt::format("{}.behavior", where), name);
}

void read_pre_tokenizer(const Reader& reader, const json& node, std::string_view where,
                        std::vector<PreTokenizerStep>& steps) {
  if (node.is_null()) return;
  std::string type = reader.string(node, "type", where);
  if (type == "Sequence") {
    const json& children = reader.at(node, "pretokenizers", where);
    for (std::size_t i = 0; i < children.size(); ++i)
      read_pre_tokenizer(reader, children[i], fmt::format("{}.pretokenizers[{}]", where, i), steps);
  } else if (type == "Split") {
    PreTokenizerStep step;
    const json& pattern = reader.at(node, "pattern", where);
    std::string pattern_where = fmt::format("{}: {}.pattern", reader.file(), where);
    if (pattern.contains("Regex")) {
      step.regex = std::make_shared<bpe::Regex>(reader.string(pattern, "Regex", where), false, pattern_where);
    } else {
      step.regex = std::make_shared<bpe::Regex>(reader.string(pattern, "String", where), true, pattern_where);
    }
    step.behavior = split_behavior(reader, reader.string(node, "behavior", where), where);
    step.invert = reader.flag(node, "invert", false);
    steps.push_back(std::move(step));
  } else if (type == "Digits") {
    // tokenizers' Digits splits at char::is_numeric (Unicode N), each digit alone or runs of them (SmolLM2,
    // StarCoder2): a Split of \p{N} or \p{N}+, isolated
    PreTokenizerStep step;
    const bool individual = reader.flag(node, "individual_digits", false);
    step.regex = std::make_shared<bpe::Regex>(individual ? "\\p{N}" : "\\p{N}+", false, "the Digits pre-tokenizer");
    step.behavior = bpe::SplitBehavior::isolated;
    steps.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    PreTokenizerStep step;
    step.kind = PreTokenizerStep::Kind::byte_level;
    step.add_prefix_space = reader.flag(node, "add_prefix_space", true);
    if (reader.flag(node, "use_regex", true))
      step.regex = std::make_shared<bpe::Regex>(k_gpt2_pattern, false, "the GPT-2 pattern");
    steps.push_back(std::move(step));
  } else {
    reader.unsupported(fmt::format("{}.type", where), type);
  }
}

// The ids a TemplateProcessing puts around a single sequence; ByteLevel (and null) put none.
void read_post_processor(const Reader& reader, const json& node, std::string_view where,
                         BpeTokenizer::Impl& impl) {
  if (node.is_null()) return;
  std::string type = reader.string(node, "type", where);
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    const json& children = reader.at(node, "processors", where);
    for (std::size_t i = 0; i < children.size(); ++i)
      read_post_processor(reader, children[i], fmt::format("{}.processors[{}]", where, i), impl);
    return;
  }
  if (type != "TemplateProcessing") reader.unsupported(fmt::format("{}.type", where), type);
  const json& single = reader.at(node, "single", where);
  const json& special_tokens = reader.at(node, "special_tokens", where);
  bool after_sequence = false;
  for (const json& item : single) {
    if (item.contains("Sequence")) {
      after_sequence = true;
      continue;
    }
    std::string name =
        reader.string(reader.at(item, "SpecialToken", fmt::format("{}.single[]", where)), "id", where);
    const json& ids =
        reader.at(reader.at(special_tokens, name, fmt::format("{}.special_tokens", where)), "ids", where);
    for (const json& id : ids)
      (after_sequence ? impl.suffix_ids : impl.prefix_ids).push_back(id.get<std::int32_t>());
  }
  if (!impl.prefix_ids.empty()) impl.bos_id = impl.prefix_ids.front();
  if (!impl.suffix_ids.empty()) impl.eos_id = impl.suffix_ids.back();
}

// ByteLevel for byte-level BPE; SentencePiece's BPE decodes with Replace("▁", " "), ByteFallback, Fuse and
// Strip(" ", n, 0), which build_id_tables and decode carry out.
void read_decoder(const Reader& reader, const json& root, BpeTokenizer::Impl& impl) {
  const json& node = reader.at(root, "decoder", "tokenizer");
  const std::string type = node.is_null() ? "null" : reader.string(node, "type", "decoder");
  if (!impl.model.characters) {
    if (type != "ByteLevel") reader.unsupported("decoder", type);
    return;
  }
  if (type != "Sequence") reader.unsupported("decoder of a tokenizer without a ByteLevel pre-tokenizer", type);
  const json& steps = reader.at(node, "decoders", "decoder");
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::string where = fmt::format("decoder.decoders[{}]", i);
    const std::string step = reader.string(steps[i], "type", where);
    if (step == "Replace") {
      const json& pattern = reader.at(steps[i], "pattern", where);
      if (!pattern.contains("String") || reader.string(pattern, "String", where) != "\u2581" ||
          reader.string(steps[i], "content", where) != " ")
        reader.unsupported(where, steps[i].dump());
    } else if (step == "Strip") {
      if (reader.string(steps[i], "content", where) != " " || steps[i].value("stop", 0) != 0)
        reader.unsupported(where, steps[i].dump());
      impl.strip_leading_spaces = steps[i].value("start", std::size_t{0});
    } else if (step != "ByteFallback" && step != "Fuse") {
      reader.unsupported(fmt::format("{}.type", where), step);
    }
  }
}

// tokenizer_config.json beside the file names the BOS and EOS tokens when the template does not.
void read_config_beside(const fs::path& path, BpeTokenizer::Impl& impl) {
  fs::path config_path = path.parent_path() / "tokenizer_config.json";
  std::error_code error;
  if (!fs::is_regular_file(config_path, error)) return;
  json config = json::parse(util::read_file(config_path), nullptr, false);
  if (config.is_discarded() || !config.is_object())
    fail(ExitCode::bad_input, "{}: not a JSON object", config_path.string());
  auto lookup = [&](const char* key) -> std::optional<std::int32_t> {
    auto found = config.find(key);
    if (found == config.end()) return std::nullopt;
    std::string content;
    if (found->is_string())
      content = found->get<std::string>();
    else if (found->is_object() && found->contains("content") && (*found)["content"].is_string())
      content = (*found)["content"].get<std::string>();
    if (auto added = impl.added_token_ids.find(content); added != impl.added_token_ids.end())
      return added->second;
    if (auto id = impl.model.vocab.find(content); id != impl.model.vocab.end()) return id->second;
    return std::nullopt;
  };
  if (!impl.bos_id) impl.bos_id = lookup("bos_token");
  if (!impl.eos_id) impl.eos_id = lookup("eos_token");
}

// The id tables: each id's token text, decoded bytes and whether it is special.
void build_id_tables(BpeTokenizer::Impl& impl) {
  std::int32_t max_id = -1;
  for (const auto& [token, id] : impl.model.vocab) max_id = std::max(max_id, id);
  for (const AddedToken& token : impl.added_tokens) max_id = std::max(max_id, token.id);
  const auto size = static_cast<std::size_t>(max_id + 1);
  impl.id_to_token.assign(size, {});
  impl.id_is_special.assign(size, 0);
  for (const auto& [token, id] : impl.model.vocab) impl.id_to_token[static_cast<std::size_t>(id)] = token;
  for (const AddedToken& token : impl.added_tokens) {
    impl.id_to_token[static_cast<std::size_t>(token.id)] = token.content;
    impl.id_is_special[static_cast<std::size_t>(token.id)] = token.special ? 1 : 0;
  }
  if (impl.model.characters) {
    // SentencePiece: "▁" is a space and <0xXX> its byte; added tokens are written as they are.
    impl.id_to_bytes.assign(size, {});
    for (std::size_t id = 0; id < size; ++id) {
      const std::string& token = impl.id_to_token[id];
      std::string bytes;
      if (token.size() == 6 && token.starts_with("<0x") && token.back() == '>' &&
          std::isxdigit(static_cast<unsigned char>(token[3])) && std::isxdigit(static_cast<unsigned char>(token[4]))) {
        bytes += static_cast<char>(std::stoi(token.substr(3, 2), nullptr, 16));
      } else {
        for (std::size_t i = 0; i < token.size();) {
          if (token.compare(i, 3, "\u2581") == 0) {
            bytes += ' ';
            i += 3;
          } else {
            bytes += token[i++];
          }
        }
      }
      impl.id_to_bytes[id] = std::move(bytes);
    }
    for (const AddedToken& token : impl.added_tokens) impl.id_to_bytes[static_cast<std::size_t>(token.id)] = token.content;
    return;
  }
  // ByteLevel decoding: each character back to its byte; a token with a character outside the table (an added
  // token such as "<think> " written plainly) is written as it is, as tokenizers' decoder does.
  std::unordered_map<char32_t, char> char_to_byte;
  const auto& table = bpe::byte_to_char();
  for (std::size_t b = 0; b < 256; ++b) char_to_byte.emplace(table[b], static_cast<char>(b));
  impl.id_to_bytes.assign(size, {});
  for (std::size_t id = 0; id < size; ++id) {
    const std::string& token = impl.id_to_token[id];
    std::string bytes;
    bool plain = false;
    for (std::size_t i = 0; i < token.size();) {
      bpe::CodePoint c = bpe::code_point_at(token, i);
      i += c.length;
      auto found = c.valid ? char_to_byte.find(c.value) : char_to_byte.end();
      if (found == char_to_byte.end()) {
        plain = true;
        break;
      }
      bytes += found->second;
    }
    impl.id_to_bytes[id] = plain ? token : std::move(bytes);
  }
}

}  // namespace

std::unique_ptr<BpeTokenizer::Impl> load_bpe_impl(const fs::path& path) {
  Reader reader(path);
  std::string bytes = util::read_file(path);
  json root = json::parse(bytes, nullptr, false);
  if (root.is_discarded()) fail(ExitCode::bad_input, "{}: not valid JSON", path.string());
  if (!root.is_object()) fail(ExitCode::bad_input, "{}: not a tokenizer.json object", path.string());
  auto impl = std::make_unique<BpeTokenizer::Impl>();
  impl->path = path;
  impl->sha256 = util::sha256_hex(bytes);
  try {
    read_model(reader, root, impl->model);
    read_added_tokens(reader, root, *impl);
    read_normalizer(reader, reader.at(root, "normalizer", "tokenizer"), "normalizer", impl->normalizer);
    read_pre_tokenizer(reader, reader.at(root, "pre_tokenizer", "tokenizer"), "pre_tokenizer",
                       impl->pre_tokenizer);
    // Without a ByteLevel step the vocabulary is SentencePiece's: characters as they are, "▁" for a space.
    impl->model.characters = std::none_of(
        impl->pre_tokenizer.begin(), impl->pre_tokenizer.end(),
        [](const PreTokenizerStep& step) { return step.kind == PreTokenizerStep::Kind::byte_level; });
    if (impl->model.characters && !impl->pre_tokenizer.empty())
      reader.unsupported("pre_tokenizer", "other than ByteLevel or none");
    read_post_processor(reader, reader.at(root, "post_processor", "tokenizer"), "post_processor", *impl);
    read_decoder(reader, root, *impl);
  } catch (const json::exception& error) {
    // A value of the wrong type deep inside a known key.
    fail(ExitCode::bad_input, "{}: malformed tokenizer.json: {}", path.string(), error.what());
  }
  read_config_beside(path, *impl);
  build_id_tables(*impl);
  return impl;
}

}  // namespace medcode::text
