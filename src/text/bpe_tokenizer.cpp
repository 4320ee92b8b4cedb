// The BPE tokenizer's encode and decode (byte-level, or SentencePiece's): added tokens are cut out of the text first, the rest is
// normalized, pre-tokenized and merged, and the post-processor's template wraps the ids.
#include "medcode/text/bpe_tokenizer.h"

#include "bpe_internal.h"

namespace medcode::text {

namespace {

// A stretch of text: an added token (id >= 0) or text to tokenize (id < 0).
struct Segment {
  std::string_view text;
  std::int32_t added_id = -1;
};

// A letter or digit, or the underscore: what a single_word added token must not touch.
bool is_word_char(char32_t c) { return c == '_' || bpe::is_letter_or_digit(c); }

// Cuts the added tokens (those of `normalized`) out of `text`: leftmost match first, the longest at a place,
// widened over whitespace by lstrip and rstrip, as tokenizers' AddedVocabulary does.
void split_added(const BpeTokenizer::Impl& impl, std::string_view text, bool normalized,
                 std::vector<Segment>& out) {
  std::size_t start = 0;  // the text not yet emitted begins here
  std::size_t i = 0;
  while (i < text.size()) {
    if (!impl.added_first_bytes[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    const AddedToken* best = nullptr;
    for (const AddedToken& token : impl.added_tokens) {
      if (token.normalized != normalized || text.compare(i, token.content.size(), token.content) != 0)
        continue;
      if (best && best->content.size() >= token.content.size()) continue;
      if (token.single_word) {
        std::size_t end = i + token.content.size();
        if ((i > 0 && is_word_char(bpe::code_point_before(text, i).value)) ||
            (end < text.size() && is_word_char(bpe::code_point_at(text, end).value)))
          continue;
      }
      best = &token;
    }
    if (!best) {
      ++i;
      continue;
    }
    std::size_t begin = i;
    std::size_t end = i + best->content.size();
    if (best->lstrip) {
      while (begin > start) {
        bpe::CodePoint c = bpe::code_point_before(text, begin);
        if (!bpe::is_white_space(c.value)) break;
        begin -= c.length;
      }
    }
    if (best->rstrip) {
      while (end < text.size()) {
        bpe::CodePoint c = bpe::code_point_at(text, end);
        if (!bpe::is_white_space(c.value)) break;
        end += c.length;
      }
    }
    if (begin > start) out.push_back({text.substr(start, begin - start), -1});
    out.push_back({text.substr(begin, end - begin), best->id});
    start = i = end;
  }
  if (start < text.size()) out.push_back({text.substr(start), -1});
}

bool has_normalized_added_tokens(const BpeTokenizer::Impl& impl) {
  for (const AddedToken& token : impl.added_tokens)
    if (token.normalized) return true;
  return false;
}

void encode_plain(const BpeTokenizer::Impl& impl, std::string_view text, std::vector<std::int32_t>& ids) {
  std::vector<std::string> pieces;
  bpe::pre_tokenize(impl.pre_tokenizer, text, pieces);
  for (const std::string& piece : pieces) impl.model.encode_piece(piece, ids);
}

}  // namespace

BpeTokenizer BpeTokenizer::load(const std::filesystem::path& tokenizer_json) {
  return BpeTokenizer(load_bpe_impl(tokenizer_json));
}

BpeTokenizer::BpeTokenizer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;
BpeTokenizer::~BpeTokenizer() = default;

std::vector<std::int32_t> BpeTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& impl = *m_impl;
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids.insert(ids.end(), impl.prefix_ids.begin(), impl.prefix_ids.end());
  std::vector<Segment> raw_segments;
  split_added(impl, text, false, raw_segments);
  const bool second_pass = has_normalized_added_tokens(impl);
  for (const Segment& segment : raw_segments) {
    if (segment.added_id >= 0) {
      ids.push_back(segment.added_id);
      continue;
    }
    std::string normalized =
        impl.normalizer.empty() ? std::string(segment.text) : impl.normalizer.apply(segment.text);
    if (!second_pass) {
      encode_plain(impl, normalized, ids);
      continue;
    }
    std::vector<Segment> segments;
    split_added(impl, normalized, true, segments);
    for (const Segment& inner : segments) {
      if (inner.added_id >= 0)
        ids.push_back(inner.added_id);
      else
        encode_plain(impl, inner.text, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), impl.suffix_ids.begin(), impl.suffix_ids.end());
  return ids;
}

std::string BpeTokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  const Impl& impl = *m_impl;
  std::string out;
  for (std::int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= impl.id_to_bytes.size()) continue;
    if (skip_special_tokens && impl.id_is_special[static_cast<std::size_t>(id)]) continue;
    out += impl.id_to_bytes[static_cast<std::size_t>(id)];
  }
  std::size_t strip = 0;
  while (strip < impl.strip_leading_spaces && strip < out.size() && out[strip] == ' ') ++strip;
  out.erase(0, strip);
  return out;
}

std::int32_t BpeTokenizer::token_to_id(std::string_view token) const {
  std::string key(token);
  if (auto found = m_impl->added_token_ids.find(key); found != m_impl->added_token_ids.end())
    return found->second;
  if (auto found = m_impl->model.vocab.find(key); found != m_impl->model.vocab.end()) return found->second;
  return -1;
}

std::string BpeTokenizer::id_to_token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= m_impl->id_to_token.size()) return {};
  return m_impl->id_to_token[static_cast<std::size_t>(id)];
}

int BpeTokenizer::vocab_size() const { return static_cast<int>(m_impl->id_to_token.size()); }
const std::vector<AddedToken>& BpeTokenizer::added_tokens() const { return m_impl->added_tokens; }
std::optional<std::int32_t> BpeTokenizer::bos_id() const { return m_impl->bos_id; }
std::optional<std::int32_t> BpeTokenizer::eos_id() const { return m_impl->eos_id; }
const std::filesystem::path& BpeTokenizer::path() const { return m_impl->path; }
const std::string& BpeTokenizer::sha256() const { return m_impl->sha256; }

}  // namespace medcode::text
