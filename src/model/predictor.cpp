// Prediction with a trained model: load the folder and tokenizer, build the trie of the release's billable
// codes, then encode prompts, decode in batches and attach the codes' descriptions.
#include "medcode/model/predictor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "medcode/model/hf_folder.h"
#include "medcode/model/threads.h"
#include "medcode/model/trainer.h"
#include "medcode/text/bpe_tokenizer.h"
#include "medcode/text/chat_example.h"
#include "medcode/text/chat_template.h"
#include "medcode/text/prompt_format.h"
#include "medcode/util/error.h"

namespace medcode::model {

// A pretrained base answers in its chat format: the prompt, then what its template writes before the answer
// (DeepSeek-R1's "\n</think>\n\n", Qwen3's empty reasoning block), then "E11.9, I10" and the end of the turn,
// exactly as `tokenize --base` taught it. The first code and the later ones (after ",") encode differently in
// a byte-level BPE, so each has its trie, built from the same encodings that training used.
struct Predictor::Chat {
  text::BpeTokenizer tokenizer;
  text::ChatTemplate chat;
  std::vector<std::int32_t> answer_prefix;
  DecodeVocabulary vocabulary;
  CodeTrie first;
  CodeTrie later;
};

namespace {

bool starts_with(const std::vector<std::int32_t>& ids, const std::vector<std::int32_t>& prefix) {
  return ids.size() > prefix.size() && std::equal(prefix.begin(), prefix.end(), ids.begin());
}

bool is_comma(const text::BpeTokenizer& tokenizer, std::int32_t id) {
  std::string text = tokenizer.decode(std::span(&id, 1));
  return text == "," || text == " ,";
}

// The text the chat format puts before an answer.
std::string answer_prefix_text(const text::ChatTemplate& chat) {
  constexpr std::string_view k_mark = "MEDCODEANSWER";
  std::string completion = chat.completion(k_mark, std::nullopt);
  return completion.substr(0, completion.find(k_mark));
}

std::vector<std::string> billable_codes(store::Database& db, const codes::ReleaseInfo& release) {
  store::Statement select =
      db.prepare("SELECT code FROM codes WHERE release_id = ? AND billable = 1 AND kind = 'code' ORDER BY code");
  select.bind(1, release.id);
  std::vector<std::string> found;
  while (select.step()) found.push_back(select.column_text(0));
  return found;
}

std::unique_ptr<Predictor::Chat> make_chat(const LoadedModel& loaded, const std::string& format,
                                           const std::vector<std::string>& codes) {
  text::BpeTokenizer tokenizer = text::BpeTokenizer::load(loaded.tokenizer_path);
  const std::string chosen = format != "auto" ? format : loaded.prompt_format;
  text::ChatTemplate chat = text::ChatTemplate::from_folder(loaded.base_dir, chosen == "medcode" ? "auto" : chosen);
  const std::string prefix = answer_prefix_text(chat);
  std::vector<std::int32_t> prefix_ids = prefix.empty() ? std::vector<std::int32_t>{} : tokenizer.encode(prefix);

  DecodeVocabulary vocabulary;
  // The separator as it follows a code ("," and not SentencePiece's "▁," of a text that starts with it).
  const std::vector<std::int32_t> after_code = tokenizer.encode("0,");
  if (after_code.empty() || tokenizer.decode(std::span(&after_code.back(), 1)) != ",")
    fail(ExitCode::bad_input, "{}: ',' after a code is not a token of its own", loaded.tokenizer_path.string());
  vocabulary.separator = after_code.back();
  // The end of the turn, as training wrote it, then the model's own end-of-text tokens.
  if (std::vector<std::int32_t> end = tokenizer.encode(chat.end_of_turn()); !end.empty())
    vocabulary.ends.push_back(end[0]);
  if (auto eos = tokenizer.eos_id()) vocabulary.ends.push_back(*eos);
  for (std::int64_t id : inspect_hf_folder(loaded.base_dir).eos_token_ids)
    vocabulary.ends.push_back(static_cast<std::int32_t>(id));
  std::sort(vocabulary.ends.begin(), vocabulary.ends.end());
  vocabulary.ends.erase(std::unique(vocabulary.ends.begin(), vocabulary.ends.end()), vocabulary.ends.end());
  if (vocabulary.ends.empty())
    fail(ExitCode::bad_input, "{}: no end-of-turn or end-of-text token", loaded.tokenizer_path.string());

  auto built = std::unique_ptr<Predictor::Chat>(new Predictor::Chat{
      std::move(tokenizer), std::move(chat), std::move(prefix_ids), std::move(vocabulary), CodeTrie(), CodeTrie()});
  const text::BpeTokenizer& bpe = built->tokenizer;
  built->vocabulary.detokenize = [&bpe](std::span<const std::int32_t> ids) { return bpe.decode(ids, true); };
  std::size_t odd = 0;
  for (const std::string& code : codes) {
    std::vector<std::int32_t> whole = bpe.encode(prefix + code);
    if (starts_with(whole, built->answer_prefix)) {
      built->first.add({whole.begin() + static_cast<std::ptrdiff_t>(built->answer_prefix.size()), whole.end()}, code);
    } else {
      ++odd;
    }
    // After the separator: ", " + code, less its first token, which is the comma (with its own "▁" in a
    // SentencePiece vocabulary, where the text's prepended "▁" joins it).
    std::vector<std::int32_t> later = bpe.encode(", " + code);
    if (later.size() > 1 && is_comma(bpe, later.front()))
      built->later.add({later.begin() + 1, later.end()}, code);
  }
  if (odd) spdlog::debug("{} codes do not encode apart from the answer's prefix and cannot come first", odd);
  return built;
}

// Sampling draws one sequence, so it does not go with beam search; --top-p only shapes a draw.
void check_sampling(const PredictOptions& options) {
  if (!(options.temperature >= 0))
    fail(ExitCode::usage, "--temperature {}: must be 0 or more", options.temperature);
  if (!(options.top_p > 0 && options.top_p <= 1))
    fail(ExitCode::usage, "--top-p {}: must be above 0 and at most 1", options.top_p);
  if (options.temperature > 0 && options.beam_size > 1) {
    fail(ExitCode::usage,
         "--temperature {} with --beam {}: sampling draws one sequence; give one or the other",
         options.temperature, options.beam_size);
  }
  if (options.temperature == 0 && options.top_p < 1)
    fail(ExitCode::usage, "--top-p {}: applies only when sampling; give --temperature above 0",
         options.top_p);
}

}  // namespace

Predictor::Predictor(store::Database& db, const PredictOptions& options) : m_options(options) {
  if (options.beam_size == 0) fail(ExitCode::usage, "--beam must be at least 1");
  if (options.batch_size == 0) fail(ExitCode::usage, "--batch-size must be at least 1");
  check_sampling(options);
  if (options.prompt_format != "auto" && !text::parse_chat_family(options.prompt_format)) {
    fail(ExitCode::usage, "--prompt-format: '{}' is not auto, plain, chatml, qwen3, llama3 or deepseek-r1",
         options.prompt_format);
  }
  m_device = resolve_device(options.device);
  configure_threads(options.threads);
  m_release = codes::find_release(db, options.system, options.year);
  LoadOptions load;
  load.merge = true;
  load.base = options.base;
  m_loaded = load_model(options.model_dir, load);
  const int model_vocab = m_loaded.model->config().vocab_size;
  const std::vector<std::string> valid = billable_codes(db, m_release);
  std::string tokenizer_sha;
  int tokenizer_vocab = 0;
  if (m_loaded.pretrained) {
    // raw continuation needs no chat format: a base whose template is of no known family still runs
    m_chat = make_chat(m_loaded, options.raw && options.prompt_format == "auto" ? "plain" : options.prompt_format, valid);
    tokenizer_sha = m_chat->tokenizer.sha256();
    tokenizer_vocab = m_chat->tokenizer.vocab_size();
  } else {
    if (options.prompt_format != "auto")
      fail(ExitCode::usage, "--prompt-format applies to pretrained bases; {} is medcode's own model",
           options.model_dir.string());
    m_tokenizer.emplace(text::Tokenizer::load(m_loaded.tokenizer_path));
    tokenizer_sha = m_tokenizer->sha256();
    tokenizer_vocab = m_tokenizer->vocab_size();
  }
  if (!m_loaded.info.tokenizer_sha256.empty() && tokenizer_sha != m_loaded.info.tokenizer_sha256) {
    fail(ExitCode::bad_input, "{}: the tokenizer is not the one the model was trained with",
         m_loaded.tokenizer_path.string());
  }
  // A pretrained embedding may be padded past the tokenizer's last id (Qwen2: 151936 rows for 151665 ids).
  if (m_loaded.pretrained ? tokenizer_vocab > model_vocab : tokenizer_vocab != model_vocab) {
    fail(ExitCode::bad_input, "{}: the tokenizer has {} pieces but the model expects {}",
         m_loaded.tokenizer_path.string(), tokenizer_vocab, model_vocab);
  }
  m_catalog = std::make_unique<codes::Catalog>(db, m_release);
  if (!m_chat) m_trie = CodeTrie::build(*m_tokenizer, valid);
  m_loaded.model->to(torch::Device(m_device));
  m_loaded.model->eval();
  spdlog::debug("model {} on {}: {} valid codes of {}", m_loaded.version, m_device, valid_codes(),
                codes::release_label(m_release));
}

Predictor::~Predictor() = default;

std::size_t Predictor::valid_codes() const { return m_chat ? m_chat->first.size() : m_trie.size(); }

std::vector<Prediction> Predictor::predict(const std::vector<std::string>& texts) {
  const ModelConfig& config = m_loaded.model->config();
  const std::size_t max_new = std::min<std::size_t>(m_options.max_new_tokens,
                                                    static_cast<std::size_t>(config.max_seq_len) / 2);
  const std::size_t max_prompt = static_cast<std::size_t>(config.max_seq_len) - max_new;
  DecodeOptions decode_options;
  decode_options.beam_size = m_options.beam_size;
  decode_options.temperature = m_options.temperature;
  decode_options.top_p = m_options.top_p;
  decode_options.seed = m_options.seed;
  decode_options.max_new_tokens = max_new;
  decode_options.max_codes = m_options.raw ? std::numeric_limits<std::size_t>::max() : m_options.max_codes;
  const bool constrained = m_options.constrained && !m_options.raw;
  decode_options.trie = constrained ? (m_chat ? &m_chat->first : &m_trie) : nullptr;
  decode_options.later_trie = constrained && m_chat ? &m_chat->later : nullptr;

  std::vector<Prediction> predictions;
  predictions.reserve(texts.size());
  for (std::size_t start = 0; start < texts.size(); start += m_options.batch_size) {
    const std::size_t end = std::min(texts.size(), start + m_options.batch_size);
    const auto began = std::chrono::steady_clock::now();
    std::vector<std::vector<std::int32_t>> prompts;
    std::vector<bool> truncated;
    for (std::size_t i = start; i < end; ++i) {
      bool cut = false;
      if (m_options.raw) {
        std::vector<std::int32_t> prompt;
        if (m_chat) {
          prompt = m_chat->tokenizer.encode(texts[i], /*add_special_tokens=*/true);
        } else {
          prompt = {text::k_bos_id};
          const auto body = m_tokenizer->encode(texts[i]);
          prompt.insert(prompt.end(), body.begin(), body.end());
        }
        if (prompt.size() > max_prompt) {
          prompt.resize(max_prompt);
          cut = true;
        }
        prompts.push_back(std::move(prompt));
      } else if (m_chat) {
        const std::size_t room = max_prompt - std::min(max_prompt - 1, m_chat->answer_prefix.size());
        std::vector<std::int32_t> prompt = text::encode_chat_prompt(m_chat->tokenizer, m_chat->chat, texts[i], room, &cut);
        prompt.insert(prompt.end(), m_chat->answer_prefix.begin(), m_chat->answer_prefix.end());
        prompts.push_back(std::move(prompt));
      } else {
        prompts.push_back(text::encode_prompt(*m_tokenizer, texts[i], max_prompt, &cut));
      }
      truncated.push_back(cut);
    }
    std::vector<Decoded> decoded =
        m_chat ? decode(m_loaded.model, m_chat->vocabulary, prompts, decode_options)
               : decode(m_loaded.model, *m_tokenizer, prompts, decode_options);
    const double milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
    auto describe = [&](const DecodedCode& code) {
      PredictedCode predicted{code.code, "", code.score, false};
      if (auto record = m_catalog->find(code.code)) {
        predicted.description = record->description;
        predicted.valid = record->billable;
      }
      return predicted;
    };
    for (std::size_t i = 0; i < decoded.size(); ++i) {
      Prediction prediction;
      for (const auto& code : decoded[i].codes) prediction.codes.push_back(describe(code));
      for (const auto& code : decoded[i].ranked) prediction.ranked.push_back(describe(code));
      prediction.completion = decoded[i].completion;
      prediction.prompt_ids = prompts[i];
      prediction.generated_ids = decoded[i].tokens;
      prediction.n_prompt_tokens = prompts[i].size();
      prediction.n_generated_tokens = decoded[i].n_generated;
      prediction.milliseconds = milliseconds / static_cast<double>(decoded.size());
      prediction.truncated = truncated[i];
      predictions.push_back(std::move(prediction));
    }
  }
  return predictions;
}

}  // namespace medcode::model
