// Prediction: a trained model folder (base or LoRA) with its tokenizer and the code set's valid codes, turning
// clinical texts into codes with descriptions and scores. Also a dataset::Coder, so `score` and `evaluate`
// can use a trained model like any other coder.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/dataset/coder.h"
#include "medcode/dataset/evaluation.h"
#include "medcode/model/checkpoint.h"
#include "medcode/model/decoding.h"
#include "medcode/store/database.h"
#include "medcode/text/tokenizer.h"

namespace medcode::model {

struct PredictOptions {
  std::filesystem::path model_dir;
  std::size_t beam_size = 1;
  std::size_t max_codes = 8;
  std::size_t max_new_tokens = 64;
  std::size_t batch_size = 16;
  bool constrained = true;           // decode only the release's billable codes
  std::string device = "auto";
  int threads = 0;
  codes::System system = codes::System::icd10cm;
  std::optional<int> year;           // the release; its newest when not given
};

struct PredictedCode {
  std::string code;
  std::string description;  // empty when the release lacks the code (unconstrained decoding)
  double score = 0;
  bool valid = false;       // the release has it
};

struct Prediction {
  std::vector<PredictedCode> codes;
  std::vector<PredictedCode> ranked;  // codes, then other beams' codes
  std::string completion;
  std::size_t n_prompt_tokens = 0;
  std::size_t n_generated_tokens = 0;
  double milliseconds = 0;            // this input's share of its batch's time
  bool truncated = false;
};

class Predictor {
 public:
  // Error(bad_input) for a missing or broken model folder; Error(bad_input) when the release is not imported.
  Predictor(store::Database& db, const PredictOptions& options);
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  std::vector<Prediction> predict(const std::vector<std::string>& texts);
  const std::string& version() const { return m_loaded.version; }
  const std::string& device() const { return m_device; }
  const codes::ReleaseInfo& release() const { return m_release; }
  std::size_t valid_codes() const { return m_trie.size(); }

 private:
  PredictOptions m_options;
  LoadedModel m_loaded;
  std::optional<text::Tokenizer> m_tokenizer;
  codes::ReleaseInfo m_release;
  std::unique_ptr<codes::Catalog> m_catalog;
  CodeTrie m_trie;
  std::string m_device;
};

// `model:<dir>` as a coder: the best sequence's codes are its predicted set; beam search widens the ranking
// with the other beams' codes (for @k). Texts are decoded `batch_size` at a time.
class ModelCoder : public dataset::DecidingCoder {
 public:
  ModelCoder(store::Database& db, const PredictOptions& options);
  std::string name() const override { return m_name; }
  std::vector<dataset::RankedCode> code(std::string_view text, std::size_t k) const override;
  std::vector<std::vector<dataset::RankedCode>> code_many(const std::vector<std::string>& texts,
                                                          std::size_t k) const override;
  dataset::Prediction predict(std::string_view text, std::size_t k) const override;
  std::vector<dataset::Prediction> predict_many(const std::vector<std::string>& texts,
                                                std::size_t k) const override;

 private:
  std::unique_ptr<Predictor> m_predictor;
  std::string m_name;
};

}  // namespace medcode::model
