// Greedy, sampled and beam-search decoding with a KV cache, batched over prompts, with an optional grammar: a
// trie of valid codes' token sequences, the separator after a complete code, and </s> to end.
#include "medcode/model/decoding.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_set>

#include "medcode/text/prompt_format.h"
#include "medcode/util/error.h"

namespace medcode::model {

// ---- the trie ----

CodeTrie::CodeTrie() { m_nodes.emplace_back(); }

std::int32_t CodeTrie::child(std::int32_t node, std::int32_t token) const {
  const Node& current = m_nodes[static_cast<std::size_t>(node)];
  auto it = std::lower_bound(current.tokens.begin(), current.tokens.end(), token);
  if (it == current.tokens.end() || *it != token) return -1;
  return current.children[static_cast<std::size_t>(it - current.tokens.begin())];
}

const std::string* CodeTrie::code_at(std::int32_t node) const {
  std::int32_t code = m_nodes[static_cast<std::size_t>(node)].code;
  return code < 0 ? nullptr : &m_code_names[static_cast<std::size_t>(code)];
}

void CodeTrie::add(const std::vector<std::int32_t>& tokens, std::string code) {
  if (tokens.empty()) return;
  std::int32_t node = k_root;
  for (std::int32_t token : tokens) {
    std::int32_t next = child(node, token);
    if (next < 0) {
      next = static_cast<std::int32_t>(m_nodes.size());
      m_nodes.emplace_back();
      Node& parent = m_nodes[static_cast<std::size_t>(node)];
      auto it = std::lower_bound(parent.tokens.begin(), parent.tokens.end(), token);
      auto offset = it - parent.tokens.begin();
      parent.tokens.insert(it, token);
      parent.children.insert(parent.children.begin() + offset, next);
    }
    node = next;
  }
  Node& end = m_nodes[static_cast<std::size_t>(node)];
  if (end.code >= 0) return;
  end.code = static_cast<std::int32_t>(m_code_names.size());
  m_code_names.push_back(std::move(code));
  ++m_codes;
}

CodeTrie CodeTrie::build(const text::Tokenizer& tokenizer, const std::vector<std::string>& codes) {
  CodeTrie trie;
  for (const std::string& code : codes) trie.add(text::encode_code(tokenizer, code), code);
  return trie;
}

// ---- beam search ----

namespace {

constexpr double k_negative_infinity = -std::numeric_limits<double>::infinity();

struct Beam {
  std::vector<std::int32_t> tokens;
  double log_probability = 0;
  bool alive = false;  // a beam slot not yet filled is dead
  bool done = false;
  // Grammar state (constrained) or parse state (unconstrained).
  std::int32_t node = CodeTrie::k_root;
  bool after_separator = false;  // the next code is a later one
  bool in_rationale = false;
  std::vector<std::int32_t> code_tokens;
  double code_log_probability = 0;
  std::vector<DecodedCode> codes;
};

struct Candidate {
  double score;
  std::size_t beam;       // index of the source beam within the input's beams
  std::int32_t token;     // -1: a finished beam carried over
  double token_log_probability;
};

// The trie that constrains the beam's current code; null when unconstrained.
const CodeTrie* trie_of(const Beam& beam, const DecodeOptions& options) {
  return beam.after_separator && options.later_trie ? options.later_trie : options.trie;
}

// Tokens the grammar allows after `beam`.
std::vector<std::int32_t> allowed_tokens(const Beam& beam, const CodeTrie& trie, const DecodeVocabulary& vocabulary,
                                         std::size_t max_codes) {
  std::vector<std::int32_t> allowed = trie.next_tokens(beam.node);
  if (beam.node != CodeTrie::k_root && trie.code_at(beam.node)) {
    if (beam.codes.size() + 1 < max_codes) allowed.push_back(vocabulary.separator);
    allowed.insert(allowed.end(), vocabulary.ends.begin(), vocabulary.ends.end());
  }
  return allowed;
}

void finish_code(Beam& beam, const DecodeVocabulary& vocabulary, const CodeTrie* trie) {
  if (beam.code_tokens.empty()) return;
  std::string code;
  if (trie) {
    const std::string* name = trie->code_at(beam.node);
    if (name) code = *name;
  } else {
    code = vocabulary.detokenize(beam.code_tokens);
    code.erase(0, code.find_first_not_of(' '));
    code.erase(code.find_last_not_of(' ') + 1);
    // Unconstrained output can hold control pieces or prose: only code-shaped text counts as a code.
    bool code_shaped = std::all_of(code.begin(), code.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.';
    });
    if (!code_shaped) code.clear();
  }
  bool repeated = std::any_of(beam.codes.begin(), beam.codes.end(),
                              [&](const DecodedCode& seen) { return seen.code == code; });
  if (!code.empty() && !repeated) beam.codes.push_back({code, std::exp(beam.code_log_probability)});
  beam.code_tokens.clear();
  beam.code_log_probability = 0;
  beam.node = CodeTrie::k_root;
}

// Moves a beam one token on, keeping the grammar (or parse) state.
void advance(Beam& beam, std::int32_t token, double log_probability, const DecodeVocabulary& vocabulary,
             const DecodeOptions& options) {
  const CodeTrie* trie = trie_of(beam, options);
  beam.tokens.push_back(token);
  beam.log_probability += log_probability;
  if (vocabulary.is_end(token)) {
    finish_code(beam, vocabulary, trie);
    beam.done = true;
    return;
  }
  if (!trie && token >= 0 && token == vocabulary.think_open) beam.in_rationale = true;
  if (beam.in_rationale) {
    if (token == vocabulary.think_close) beam.in_rationale = false;
    return;
  }
  if (token == vocabulary.separator) {
    finish_code(beam, vocabulary, trie);
    beam.after_separator = true;
    // The grammar enforces the limit when constrained; unconstrained output is cut here.
    if (beam.codes.size() >= options.max_codes) beam.done = true;
    return;
  }
  beam.code_tokens.push_back(token);
  beam.code_log_probability += log_probability;
  if (trie) beam.node = trie->child(beam.node, token);
}

// The next tokens the grammar allows a beam, with their log-probabilities; every token when unconstrained.
template <typename RowFn>
std::vector<std::pair<double, std::int32_t>> token_choices(const Beam& beam, std::size_t k, RowFn row,
                                                           const DecodeVocabulary& vocabulary,
                                                           const DecodeOptions& options) {
  const float* log_probabilities = row(k);
  std::vector<std::pair<double, std::int32_t>> choices;
  if (const CodeTrie* trie = trie_of(beam, options)) {
    for (std::int32_t token : allowed_tokens(beam, *trie, vocabulary, options.max_codes))
      choices.emplace_back(log_probabilities[token], token);
  } else {
    std::int32_t vocab = static_cast<std::int32_t>(row.vocab());
    for (std::int32_t token = 0; token < vocab; ++token)
      choices.emplace_back(log_probabilities[token], token);
  }
  return choices;
}

// The best `width` continuations of an input's beams. `row` gives the log-probabilities of a beam's next token.
template <typename RowFn>
std::vector<Candidate> best_candidates(const std::vector<Beam>& beams, std::size_t width, RowFn row,
                                       const DecodeVocabulary& vocabulary, const DecodeOptions& options) {
  std::vector<Candidate> candidates;
  for (std::size_t k = 0; k < beams.size(); ++k) {
    const Beam& beam = beams[k];
    if (!beam.alive) continue;
    if (beam.done) {
      candidates.push_back({beam.log_probability, k, -1, 0});
      continue;
    }
    std::vector<std::pair<double, std::int32_t>> choices = token_choices(beam, k, row, vocabulary, options);
    std::size_t keep = std::min(width, choices.size());
    std::partial_sort(choices.begin(), choices.begin() + static_cast<std::ptrdiff_t>(keep), choices.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (std::size_t i = 0; i < keep; ++i)
      candidates.push_back({beam.log_probability + choices[i].first, k, choices[i].second, choices[i].first});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  if (candidates.size() > width) candidates.resize(width);
  return candidates;
}

// ---- sampling ----

// A uniform draw in [0, 1) from the generator's top 53 bits: the same on every platform, which the standard
// distributions are not.
double uniform(std::mt19937_64& generator) { return static_cast<double>(generator() >> 11) * 0x1.0p-53; }

// A prompt's own generator: the seed and the prompt's tokens, so that a text draws the same tokens whatever
// else is in its batch.
std::mt19937_64 prompt_generator(std::uint64_t seed, const std::vector<std::int32_t>& prompt) {
  std::vector<std::uint32_t> material = {static_cast<std::uint32_t>(seed),
                                         static_cast<std::uint32_t>(seed >> 32)};
  for (std::int32_t token : prompt) material.push_back(static_cast<std::uint32_t>(token));
  std::seed_seq sequence(material.begin(), material.end());
  return std::mt19937_64(sequence);
}

// One token drawn from `choices` (log-probabilities, any order): the distribution at `temperature`, cut to
// its most probable tokens whose probabilities add up to at least `top_p`, renormalised. Returns the index
// of the choice drawn.
std::size_t sample_choice(const std::vector<std::pair<double, std::int32_t>>& choices, double temperature,
                          double top_p, std::mt19937_64& generator) {
  std::vector<std::size_t> order(choices.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Most probable first, ties by token id, so that the nucleus is the same set on every run.
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return choices[a].first > choices[b].first ||
           (choices[a].first == choices[b].first && choices[a].second < choices[b].second);
  });
  const double top = choices[order.front()].first;
  if (!std::isfinite(top)) return order.front();
  std::vector<double> weights;  // exp((l - top) / T): the tempered probabilities, unnormalised
  double total = 0;
  for (std::size_t i : order) {
    weights.push_back(std::exp((choices[i].first - top) / temperature));
    total += weights.back();
  }
  double kept = 0;
  std::size_t n_kept = 0;
  while (n_kept < weights.size() && (n_kept == 0 || kept < top_p * total)) kept += weights[n_kept++];
  double target = uniform(generator) * kept;
  for (std::size_t i = 0; i < n_kept; ++i) {
    target -= weights[i];
    if (target < 0) return order[i];
  }
  return order[n_kept - 1];
}

// The sampled continuation of an input's single beam, as best_candidates gives the greedy one.
template <typename RowFn>
std::vector<Candidate> sampled_candidate(const std::vector<Beam>& beams, RowFn row,
                                         const DecodeVocabulary& vocabulary, const DecodeOptions& options,
                                         std::mt19937_64& generator) {
  const Beam& beam = beams.front();
  if (beam.done) return {{beam.log_probability, 0, -1, 0}};
  std::vector<std::pair<double, std::int32_t>> choices = token_choices(beam, 0, row, vocabulary, options);
  if (choices.empty()) return {};
  const auto& [log_probability, token] =
      choices[sample_choice(choices, options.temperature, options.top_p, generator)];
  return {{beam.log_probability + log_probability, 0, token, log_probability}};
}

struct PromptBatch {
  torch::Tensor tokens;       // (B, P) int64, left-padded
  torch::Tensor positions;    // (B, P) int64
  torch::Tensor key_padding;  // (B, P) bool, true on padding
};

PromptBatch left_pad(const std::vector<std::vector<std::int32_t>>& prompts, std::int32_t pad) {
  std::size_t longest = 0;
  for (const auto& prompt : prompts) longest = std::max(longest, prompt.size());
  const auto n = static_cast<std::int64_t>(prompts.size());
  const auto length = static_cast<std::int64_t>(longest);
  PromptBatch batch{torch::full({n, length}, static_cast<std::int64_t>(pad), torch::kInt64),
                    torch::zeros({n, length}, torch::kInt64), torch::ones({n, length}, torch::kBool)};
  auto tokens = batch.tokens.accessor<std::int64_t, 2>();
  auto positions = batch.positions.accessor<std::int64_t, 2>();
  auto padding = batch.key_padding.accessor<bool, 2>();
  for (std::int64_t b = 0; b < n; ++b) {
    const auto& prompt = prompts[static_cast<std::size_t>(b)];
    const std::int64_t offset = length - static_cast<std::int64_t>(prompt.size());
    for (std::size_t t = 0; t < prompt.size(); ++t) {
      tokens[b][offset + static_cast<std::int64_t>(t)] = prompt[t];
      positions[b][offset + static_cast<std::int64_t>(t)] = static_cast<std::int64_t>(t);
      padding[b][offset + static_cast<std::int64_t>(t)] = false;
    }
  }
  return batch;
}

Decoded collect(const std::vector<Beam>& beams, const DecodeVocabulary& vocabulary) {
  Decoded decoded;
  std::vector<const Beam*> order;
  for (const Beam& beam : beams)
    if (beam.alive) order.push_back(&beam);
  std::stable_sort(order.begin(), order.end(),
                   [](const Beam* a, const Beam* b) { return a->log_probability > b->log_probability; });
  if (order.empty()) return decoded;
  const Beam& best = *order.front();
  decoded.codes = best.codes;
  decoded.log_probability = best.log_probability;
  decoded.n_generated = best.tokens.size();
  decoded.completion = vocabulary.detokenize(best.tokens);
  decoded.tokens = best.tokens;
  std::unordered_set<std::string> seen;
  for (const Beam* beam : order) {
    for (const DecodedCode& code : beam->codes)
      if (seen.insert(code.code).second) decoded.ranked.push_back(code);
  }
  return decoded;
}

}  // namespace

DecodeVocabulary DecodeVocabulary::of(const text::Tokenizer& tokenizer) {
  DecodeVocabulary vocabulary;
  vocabulary.detokenize = [&tokenizer](std::span<const std::int32_t> ids) {
    return tokenizer.decode(ids);
  };
  vocabulary.separator = tokenizer.piece_to_id(text::k_code_separator_piece);
  vocabulary.ends = {text::k_eos_id};
  vocabulary.think_open = tokenizer.piece_to_id(text::k_think_open_piece);
  vocabulary.think_close = tokenizer.piece_to_id(text::k_think_close_piece);
  vocabulary.pad = text::k_pad_id;
  return vocabulary;
}

bool DecodeVocabulary::is_end(std::int32_t token) const {
  return std::find(ends.begin(), ends.end(), token) != ends.end();
}

std::vector<Decoded> decode(Transformer& model, const text::Tokenizer& tokenizer,
                            const std::vector<std::vector<std::int32_t>>& prompts, const DecodeOptions& options) {
  return decode(model, DecodeVocabulary::of(tokenizer), prompts, options);
}

std::vector<Decoded> decode(Transformer& model, const DecodeVocabulary& vocabulary,
                            const std::vector<std::vector<std::int32_t>>& prompts, const DecodeOptions& options) {
  if (prompts.empty()) return {};
  // No autograd bookkeeping at all (version counters, views), not just no graph: each step runs a few
  // hundred small ops, where that bookkeeping is a good part of the time.
  c10::InferenceMode inference;
  model->eval();
  const torch::Device device = model->embed_tokens->weight.device();
  const std::size_t width = std::max<std::size_t>(1, options.beam_size);
  const bool sampling = options.temperature > 0;
  if (sampling && width > 1) fail(ExitCode::usage, "sampling draws one sequence: it takes no beam search");
  if (sampling && !(options.top_p > 0 && options.top_p <= 1))
    fail(ExitCode::usage, "top-p {}: must be above 0 and at most 1", options.top_p);
  const auto n_inputs = static_cast<std::int64_t>(prompts.size());
  const auto beams_per_input = static_cast<std::int64_t>(width);
  const auto n_rows = n_inputs * beams_per_input;

  // Prefill: every prompt once, then each row's cache is copied to its beams. The cache has room for the
  // whole completion, so that each step writes its position in place.
  PromptBatch batch = left_pad(prompts, vocabulary.pad);
  const auto prompt_length = batch.tokens.size(1);
  const auto max_length = prompt_length + static_cast<std::int64_t>(options.max_new_tokens);
  const bool padded = batch.key_padding.any().item<bool>();
  KvCache cache = model->make_cache();
  cache.capacity = max_length;
  torch::Tensor logits = model->forward(batch.tokens.to(device), batch.positions.to(device),
                                        padded ? batch.key_padding.to(device) : torch::Tensor(), &cache,
                                        /*last_only=*/true);  // (B, 1, V)
  torch::Tensor rows = torch::arange(n_inputs, torch::kInt64).repeat_interleave(beams_per_input);
  if (width > 1) cache.select_rows(rows.to(device));
  // A beam only ever continues a beam of its own input, so each row keeps its prompt's padding and
  // positions: the key padding of every step is that of the prompt followed by real tokens.
  torch::Tensor key_padding;  // (B*K, max_length) bool, undefined without padding
  if (padded) {
    key_padding = torch::zeros({n_rows, max_length}, torch::kBool);
    key_padding.narrow(1, 0, prompt_length).copy_(batch.key_padding.index_select(0, rows));
    key_padding = key_padding.to(device);
  }
  const torch::Tensor first_position =
      (batch.positions.select(1, -1).index_select(0, rows) + 1).unsqueeze(1).to(device);  // (B*K, 1)
  torch::Tensor log_probabilities =
      torch::log_softmax(logits.select(1, -1).to(torch::kFloat32), -1);  // (B, V)
  if (width > 1) log_probabilities = log_probabilities.index_select(0, rows.to(device));  // (B*K, V)

  std::vector<std::vector<Beam>> beams(prompts.size(), std::vector<Beam>(width));
  for (auto& input_beams : beams) input_beams[0].alive = true;
  std::vector<std::mt19937_64> generators;
  if (sampling)
    for (const auto& prompt : prompts) generators.push_back(prompt_generator(options.seed, prompt));
  const std::size_t vocab = static_cast<std::size_t>(log_probabilities.size(-1));
  std::vector<std::int64_t> sources(static_cast<std::size_t>(n_rows));
  torch::Tensor next_tokens = torch::empty({n_rows, 1}, torch::kInt64);  // on the host, filled each step

  for (std::size_t step = 0; step < options.max_new_tokens; ++step) {
    torch::Tensor host = log_probabilities.to(torch::kCPU).contiguous();  // (B*K, V)
    const float* data = host.data_ptr<float>();
    std::int64_t* feed = next_tokens.data_ptr<std::int64_t>();
    bool all_done = true;
    bool reordered = false;
    for (std::size_t b = 0; b < beams.size(); ++b) {
      struct Row {
        const float* base;
        std::size_t vocab_size;
        const float* operator()(std::size_t k) const { return base + k * vocab_size; }
        std::size_t vocab() const { return vocab_size; }
      } row{data + b * width * vocab, vocab};
      std::vector<Candidate> chosen =
          sampling ? sampled_candidate(beams[b], row, vocabulary, options, generators[b])
                   : best_candidates(beams[b], width, row, vocabulary, options);
      std::vector<Beam> next(width);
      for (std::size_t k = 0; k < chosen.size(); ++k) {
        const Candidate& candidate = chosen[k];
        next[k] = beams[b][candidate.beam];
        if (candidate.token >= 0)
          advance(next[k], candidate.token, candidate.token_log_probability, vocabulary, options);
        all_done = all_done && next[k].done;
      }
      for (std::size_t k = 0; k < width; ++k) {
        const std::size_t slot = b * width + k;
        const std::size_t source = b * width + (k < chosen.size() ? chosen[k].beam : 0);
        reordered = reordered || source != slot;
        sources[slot] = static_cast<std::int64_t>(source);
        bool feeds = k < chosen.size() && !next[k].done;
        feed[slot] = feeds ? next[k].tokens.back() : vocabulary.pad;
      }
      beams[b] = std::move(next);
    }
    if (all_done || step + 1 == options.max_new_tokens) break;
    // One token for every beam, on the cache reordered when beams changed places.
    if (reordered) cache.select_rows(torch::tensor(sources, torch::kInt64).to(device));
    const auto length = cache.length + 1;
    logits = model->forward(next_tokens.to(device), first_position + static_cast<std::int64_t>(step),
                            padded ? key_padding.narrow(1, 0, length) : torch::Tensor(), &cache);  // (B*K, 1, V)
    log_probabilities = torch::log_softmax(logits.select(1, -1).to(torch::kFloat32), -1);
  }

  // A beam cut off by max_new_tokens keeps the codes it completed.
  std::vector<Decoded> results;
  for (auto& input_beams : beams) results.push_back(collect(input_beams, vocabulary));
  return results;
}

}  // namespace medcode::model
