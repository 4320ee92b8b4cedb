// The BPE model: a pre-token's bytes (or, for SentencePiece's BPE, its characters) become tokens that are merged,
// lowest rank first and leftmost first among equals, as tokenizers' Word::merge_all does; results are cached.
#include <queue>

#include "bpe_internal.h"

namespace medcode::text::bpe {

namespace {

// Enough distinct pre-tokens for a long clinical corpus; the cache starts afresh when it fills.
constexpr std::size_t k_cache_entries = 1 << 16;
// Longer pre-tokens (runs of spaces, base64) are rare and would only crowd the cache.
constexpr std::size_t k_cache_max_bytes = 64;

struct Candidate {
  std::int32_t rank;
  std::int32_t left;  // symbol index
  std::int32_t left_id;
  std::int32_t right_id;
  bool operator>(const Candidate& other) const {
    return rank != other.rank ? rank > other.rank : left > other.left;
  }
};

}  // namespace

void Model::merge(std::string_view bytes, std::vector<std::int32_t>& ids) const {
  // The symbols as a doubly linked list: their ids, prev and next indices. Byte-level: one per byte;
  // SentencePiece: one per character in the vocabulary, else one per byte of it (<0xXX>) or an unknown (-1).
  std::vector<std::int32_t> symbol_ids;
  symbol_ids.reserve(bytes.size());
  if (!characters) {
    for (char byte : bytes) symbol_ids.push_back(byte_ids[static_cast<unsigned char>(byte)]);
  } else {
    for (std::size_t i = 0; i < bytes.size();) {
      CodePoint c = code_point_at(bytes, i);
      std::string_view character = bytes.substr(i, c.length);
      i += c.length;
      if (auto found = vocab.find(std::string(character)); found != vocab.end()) {
        symbol_ids.push_back(found->second);
      } else if (byte_fallback) {
        for (char byte : character) symbol_ids.push_back(fallback_ids[static_cast<unsigned char>(byte)]);
      } else {
        symbol_ids.push_back(-1);
      }
    }
  }
  const auto n = static_cast<std::int32_t>(symbol_ids.size());
  std::vector<std::int32_t> prev(symbol_ids.size());
  std::vector<std::int32_t> next(symbol_ids.size());
  for (std::int32_t i = 0; i < n; ++i) {
    prev[static_cast<std::size_t>(i)] = i - 1;
    next[static_cast<std::size_t>(i)] = i + 1 < n ? i + 1 : -1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto push = [&](std::int32_t left) {
    if (left < 0) return;
    std::int32_t right = next[static_cast<std::size_t>(left)];
    if (right < 0) return;
    std::int32_t left_id = symbol_ids[static_cast<std::size_t>(left)];
    std::int32_t right_id = symbol_ids[static_cast<std::size_t>(right)];
    if (left_id < 0 || right_id < 0) return;
    auto found = merges.find(pair_key(left_id, right_id));
    if (found != merges.end()) queue.push({found->second.rank, left, left_id, right_id});
  };
  for (std::int32_t i = 0; i + 1 < n; ++i) push(i);

  while (!queue.empty()) {
    Candidate candidate = queue.top();
    queue.pop();
    auto left = static_cast<std::size_t>(candidate.left);
    std::int32_t right = next[left];
    // Stale: either side has been merged into something else since this pair was queued.
    if (symbol_ids[left] != candidate.left_id || right < 0 ||
        symbol_ids[static_cast<std::size_t>(right)] != candidate.right_id)
      continue;
    symbol_ids[left] = merges.at(pair_key(candidate.left_id, candidate.right_id)).merged_id;
    std::int32_t after = next[static_cast<std::size_t>(right)];
    next[left] = after;
    if (after >= 0) prev[static_cast<std::size_t>(after)] = candidate.left;
    symbol_ids[static_cast<std::size_t>(right)] = -2;  // gone
    push(prev[left]);
    push(candidate.left);
  }
  bool after_unknown = false;
  for (std::int32_t i = 0; i >= 0 && i < n; i = next[static_cast<std::size_t>(i)]) {
    std::int32_t id = symbol_ids[static_cast<std::size_t>(i)];
    if (id >= 0) {
      ids.push_back(id);
      after_unknown = false;
    } else if (unk_id && !(fuse_unk && after_unknown)) {
      ids.push_back(*unk_id);
      after_unknown = true;
    }
  }
}

void Model::encode_piece(std::string_view bytes, std::vector<std::int32_t>& ids) const {
  if (bytes.empty()) return;
  if (bytes.size() == 1 && !characters) {
    std::int32_t id = byte_ids[static_cast<unsigned char>(bytes[0])];
    if (id >= 0)
      ids.push_back(id);
    else if (unk_id)
      ids.push_back(*unk_id);
    return;
  }
  const bool cacheable = bytes.size() <= k_cache_max_bytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex);
    auto found = cache.find(bytes);
    if (found != cache.end()) {
      ids.insert(ids.end(), found->second.begin(), found->second.end());
      return;
    }
  }
  std::size_t first = ids.size();
  bool whole = false;
  if (ignore_merges) {
    // Llama-3: a pre-token that is itself in the vocabulary is one token, whatever the merges would make.
    auto found = vocab.find(characters ? std::string(bytes) : bytes_to_token_text(bytes));
    if (found != vocab.end()) {
      ids.push_back(found->second);
      whole = true;
    }
  }
  if (!whole) merge(bytes, ids);
  if (cacheable) {
    std::lock_guard lock(cache_mutex);
    if (cache.size() >= k_cache_entries) cache.clear();
    cache.emplace(std::string(bytes),
                  std::vector<std::int32_t>(ids.begin() + static_cast<std::ptrdiff_t>(first), ids.end()));
  }
}

}  // namespace medcode::text::bpe
