// Prediction: a trained model folder (base or LoRA), a pretrained Hugging Face base or an adapter over one, with
// its tokenizer (and chat format) and the code set's valid codes, turning clinical texts into codes with
// descriptions and scores: the plugin's CodePredictor, which eval's ModelCoder
// wraps so that `score` and `evaluate` use a trained model like any other coder.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/model/checkpoint.h"
#include "medcode/model/decoding.h"
#include "medcode/model/stack.h"
#include "medcode/store/database.h"
#include "medcode/text/tokenizer.h"

namespace medcode::model {

class Predictor : public CodePredictor {
 public:
  // A pretrained base's tokenizer, chat format and code tries (predictor.cpp).
  struct Chat;

  // Error(bad_input) for a missing or broken model folder; Error(bad_input) when the release is not imported.
  Predictor(store::Database& db, const PredictOptions& options);
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  std::vector<Prediction> predict(const std::vector<std::string>& texts) override;
  const std::string& version() const override { return m_loaded.version; }
  const std::string& device() const override { return m_device; }
  const codes::ReleaseInfo& release() const override { return m_release; }
  std::size_t valid_codes() const;

 private:
  PredictOptions m_options;
  LoadedModel m_loaded;
  std::optional<text::Tokenizer> m_tokenizer;  // medcode's own models
  std::unique_ptr<Chat> m_chat;                // pretrained bases and their adapters
  codes::ReleaseInfo m_release;
  std::unique_ptr<codes::Catalog> m_catalog;
  CodeTrie m_trie;
  std::string m_device;
};

}  // namespace medcode::model
