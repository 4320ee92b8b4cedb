// Prediction with a trained model: load the folder and tokenizer, build the trie of the release's billable
// codes, then encode prompts, decode in batches and attach the codes' descriptions.
#include "medcode/model/predictor.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "medcode/model/threads.h"
#include "medcode/model/trainer.h"
#include "medcode/text/prompt_format.h"
#include "medcode/util/error.h"

namespace medcode::model {

namespace {

std::vector<std::string> billable_codes(store::Database& db, const codes::ReleaseInfo& release) {
  store::Statement select =
      db.prepare("SELECT code FROM codes WHERE release_id = ? AND billable = 1 AND kind = 'code' ORDER BY code");
  select.bind(1, release.id);
  std::vector<std::string> found;
  while (select.step()) found.push_back(select.column_text(0));
  return found;
}

}  // namespace

Predictor::Predictor(store::Database& db, const PredictOptions& options) : m_options(options) {
  if (options.beam_size == 0) fail(ExitCode::usage, "--beam must be at least 1");
  if (options.batch_size == 0) fail(ExitCode::usage, "--batch-size must be at least 1");
  m_device = resolve_device(options.device);
  configure_threads(options.threads);
  m_loaded = load_model(options.model_dir, true);
  m_tokenizer.emplace(text::Tokenizer::load(m_loaded.tokenizer_path));
  if (!m_loaded.info.tokenizer_sha256.empty() && m_tokenizer->sha256() != m_loaded.info.tokenizer_sha256) {
    fail(ExitCode::bad_input, "{}: the tokenizer is not the one the model was trained with",
         m_loaded.tokenizer_path.string());
  }
  if (m_tokenizer->vocab_size() != m_loaded.model->config().vocab_size) {
    fail(ExitCode::bad_input, "{}: the tokenizer has {} pieces but the model expects {}",
         m_loaded.tokenizer_path.string(), m_tokenizer->vocab_size(), m_loaded.model->config().vocab_size);
  }
  m_release = codes::find_release(db, options.system, options.year);
  m_catalog = std::make_unique<codes::Catalog>(db, m_release);
  m_trie = CodeTrie::build(*m_tokenizer, billable_codes(db, m_release));
  m_loaded.model->to(torch::Device(m_device));
  m_loaded.model->eval();
  spdlog::debug("model {} on {}: {} valid codes of {}", m_loaded.version, m_device, m_trie.size(),
                codes::release_label(m_release));
}

Predictor::~Predictor() = default;

std::vector<Prediction> Predictor::predict(const std::vector<std::string>& texts) {
  const ModelConfig& config = m_loaded.model->config();
  const std::size_t max_new = std::min<std::size_t>(m_options.max_new_tokens,
                                                    static_cast<std::size_t>(config.max_seq_len) / 2);
  const std::size_t max_prompt = static_cast<std::size_t>(config.max_seq_len) - max_new;
  DecodeOptions decode_options;
  decode_options.beam_size = m_options.beam_size;
  decode_options.max_new_tokens = max_new;
  decode_options.max_codes = m_options.max_codes;
  decode_options.trie = m_options.constrained ? &m_trie : nullptr;

  std::vector<Prediction> predictions;
  predictions.reserve(texts.size());
  for (std::size_t start = 0; start < texts.size(); start += m_options.batch_size) {
    const std::size_t end = std::min(texts.size(), start + m_options.batch_size);
    const auto began = std::chrono::steady_clock::now();
    std::vector<std::vector<std::int32_t>> prompts;
    std::vector<bool> truncated;
    for (std::size_t i = start; i < end; ++i) {
      bool cut = false;
      prompts.push_back(text::encode_prompt(*m_tokenizer, texts[i], max_prompt, &cut));
      truncated.push_back(cut);
    }
    std::vector<Decoded> decoded = decode(m_loaded.model, *m_tokenizer, prompts, decode_options);
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
