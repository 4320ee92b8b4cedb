// The learned reranker `index+rerank:PATH`: gradient-boosted trees (XGBoost) judge each candidate of the
// index coder from its features (how it was matched, how specific, how often and in which context it is
// mentioned, how often the code is right in training data, whether BM25 agrees) and assign the codes whose
// probability reaches a threshold chosen on a development set. Saved as one versioned JSON file.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medcode/eval/boosted_trees.h"
#include "medcode/eval/coder.h"
#include "medcode/eval/evaluation.h"
#include "medcode/eval/index_coder.h"

namespace medcode::eval {

inline constexpr std::string_view k_rerank_coder_prefix = "index+rerank:";
inline constexpr int k_reranker_format_version = 1;

// How often a code was in the gold and among the index coder's candidates of the training notes.
struct CodePrior {
  std::int64_t gold = 0;                // notes whose gold has the code
  std::int64_t proposed = 0;            // notes whose candidates have it
  std::int64_t gold_when_proposed = 0;  // of those, notes whose gold has it
};

struct RerankerTrainOptions {
  BoostedTreesParams trees = {.n_rounds = 300,
                              .max_depth = 5,
                              .learning_rate = 0.05,
                              .min_child_weight = 2,
                              .subsample = 0.9,
                              .seed = 42,
                              .n_threads = 0};
  std::size_t folds = 5;  // training notes' priors come from the other folds, so no note sees its own labels
  int threads = 0;        // notes coded in parallel
  // A trained model (`model:DIR`) whose ranking of each note is the feature `model_rank`; the file records
  // its folder and the coder opens it again. Without one the feature is 0 throughout.
  const Coder* model = nullptr;
  std::filesystem::path model_dir;
};

// Each note's ranking by the reranker's model, when it has one: what `model_rank` reads.
using ModelRankings = std::vector<std::vector<RankedCode>>;
inline constexpr std::size_t k_model_ranking_depth = 20;

// The threshold study on the development set: micro P/R/F1 at each threshold tried, and the one chosen.
struct ThresholdPoint {
  double threshold = 0;
  PrfScores micro;
};

struct RerankerSummary {
  std::size_t train_notes = 0;
  std::size_t train_candidates = 0;
  std::size_t train_positives = 0;
  std::size_t train_gold = 0;  // gold codes of the training notes; positives / gold is the candidates' recall
  std::size_t dev_notes = 0;
  double threshold = 0;
  PrfScores dev_micro;  // at the threshold
  std::vector<ThresholdPoint> curve;
  nlohmann::json to_json() const;
};

class Reranker {
 public:
  // Trains on `train` (the index coder's candidates labelled by the gold codes) and chooses the threshold
  // that maximises micro-F1 on `dev` (the training notes themselves when `dev` is empty, then said in the
  // summary).
  static Reranker train(const IndexCoder& index, const Bm25Coder& bm25, const std::vector<EvalExample>& train,
                        const std::vector<EvalExample>& dev, const RerankerTrainOptions& options,
                        RerankerSummary& summary);
  // Error(bad_input) naming the file for a missing, unreadable or foreign file, or one of another version.
  static Reranker load(const std::filesystem::path& path);
  void save(const std::filesystem::path& path) const;

  double threshold() const { return m_threshold; }
  // The folder of the trained model whose rankings are a feature, when the reranker was trained with one.
  const std::optional<std::filesystem::path>& model_dir() const { return m_model_dir; }
  int year() const { return m_year; }
  codes::System system() const { return m_system; }  // of the release whose candidates it was trained on
  // The probability that each candidate is a gold code, in the candidates' order.
  // `model_ranking`: the note's ranking by the model of model_dir(), when there is one.
  std::vector<float> score(const std::vector<Candidate>& candidates, const Bm25Coder& bm25,
                           const std::vector<RankedCode>* model_ranking = nullptr) const;
  static const std::vector<std::string>& feature_names();
  // Codes the index coder did not propose in training notes whose gold had them: (code, share of the notes
  // without the candidate whose gold had it), best first; at most 100, each right at least 3 times.
  const std::vector<std::pair<std::string, double>>& unproposed_rates() const { return m_unproposed; }

 private:
  std::vector<float> features(const std::vector<Candidate>& candidates, const Bm25Coder& bm25,
                              const std::map<std::string, CodePrior>& priors,
                              const std::map<std::string, std::int64_t>& categories, std::size_t n_notes,
                              const std::vector<RankedCode>* model_ranking) const;

  std::optional<BoostedTrees> m_trees;
  double m_threshold = 0.5;
  int m_year = 0;
  codes::System m_system = codes::System::icd10cm;
  std::optional<std::filesystem::path> m_model_dir;
  std::size_t m_notes = 0;  // training notes the priors count over
  std::map<std::string, CodePrior> m_priors;
  std::map<std::string, std::int64_t> m_categories;  // 3-character category → notes whose gold has it
  nlohmann::json m_summary;
  std::vector<std::pair<std::string, double>> m_unproposed;
  void compute_unproposed_rates();
};

// The reranker as a coder: the index coder's candidates (negated ones too, as a feature) ranked by the
// reranker's probability; those at or above the threshold (or `min_score`) are assigned, at most `top_k`.
class RerankCoder : public DecidingCoder {
 public:
  // `model`: the coder of the reranker's model_dir(), required when it has one.
  RerankCoder(std::unique_ptr<IndexCoder> index, std::unique_ptr<Bm25Coder> bm25, Reranker reranker,
              std::string name, std::optional<double> min_score, std::size_t top_k, int threads,
              std::unique_ptr<Coder> model = nullptr);
  std::string name() const override { return m_name; }
  std::vector<RankedCode> code(std::string_view text, std::size_t k) const override;
  Prediction predict(std::string_view text, std::size_t k) const override;
  std::vector<Prediction> predict_many(const std::vector<std::string>& texts, std::size_t k) const override;

 private:
  std::unique_ptr<IndexCoder> m_index;
  std::unique_ptr<Bm25Coder> m_bm25;
  Reranker m_reranker;
  std::unique_ptr<Coder> m_model;
  std::string m_name;
  double m_threshold;
  std::size_t m_top_k;
  int m_threads;
};

}  // namespace medcode::eval
