// Coders by name: the one place that turns `bm25`, `bm25+terms`, `majority`, `index`, `index+rerank:PATH`,
// `llm:MODEL` or `model:DIR` into a coder, for
// `score`, `evaluate` and `run --train` alike. A `model:` coder is a trained model, loaded through the model
// plugin.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/eval/evaluation.h"
#include "medcode/eval/llm_coder.h"
#include "medcode/model/stack.h"
#include "medcode/store/database.h"

namespace medcode::eval {

inline constexpr std::string_view k_model_coder_prefix = "model:";

struct CoderOptions {
  std::vector<EvalExample> train;  // majority: the examples it counts
  model::PredictOptions model;     // model:DIR: how to decode (the folder comes from the name)
  // Document coders (index, index+rerank:PATH, llm:MODEL): codes scoring below `min_score` are ranked but not
  // assigned (unset: the coder's own threshold; a reranker file carries the one chosen on dev), and at most
  // `top_k` are assigned (0: no limit).
  std::optional<double> min_score;
  std::size_t top_k = 0;
  int threads = 0;  // document coders: notes coded in parallel (0: one per available core)
  // llm:MODEL: the model table, shortlist and engine options (its top_k and threads come from the fields
  // above; min_score does not apply, as the model decides what it assigns).
  LlmCoderOptions llm;
};

// bm25 and bm25+terms need `release`; majority needs training examples; model:DIR decodes over `release`
// when given (else over the newest release of options.model.system, or its year). Error(usage) naming the
// accepted coders for an unknown name, Error(bad_input) when a coder lacks what it needs, and Error(usage)
// when the model plugin is missing.
std::unique_ptr<Coder> make_coder(store::Database& db, const std::optional<codes::ReleaseInfo>& release,
                                  const std::string& name, const CoderOptions& options = {});

// A trained model as a coder: the best sequence's codes are its predicted set; beam search widens the ranking
// with the other beams' codes (for @k). Texts are decoded `batch_size` at a time.
class ModelCoder : public DecidingCoder {
 public:
  ModelCoder(std::unique_ptr<model::CodePredictor> predictor, std::string name);
  std::string name() const override { return m_name; }
  std::vector<RankedCode> code(std::string_view text, std::size_t k) const override;
  std::vector<std::vector<RankedCode>> code_many(const std::vector<std::string>& texts,
                                                 std::size_t k) const override;
  Prediction predict(std::string_view text, std::size_t k) const override;
  std::vector<Prediction> predict_many(const std::vector<std::string>& texts, std::size_t k) const override;
  // The loaded model's version (the folder's checkpoint, with its adapter when there is one).
  const std::string& version() const;

 private:
  std::unique_ptr<model::CodePredictor> m_predictor;
  std::string m_name;
};

}  // namespace medcode::eval
