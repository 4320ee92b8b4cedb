// Coders by name, and the trained model as a coder (its predictor comes from the model plugin).
#include "medcode/eval/make_coder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "medcode/eval/index_coder.h"
#include "medcode/eval/llm_coder.h"
#include "medcode/eval/reranker.h"
#include "medcode/util/error.h"

namespace medcode::eval {

namespace {

constexpr const char* k_coder_names =
    "bm25, bm25+terms, majority, index, index+rerank:PATH, llm:MODEL, model:DIR";

const codes::ReleaseInfo& require_release(const std::optional<codes::ReleaseInfo>& release,
                                          const std::string& name) {
  if (!release) {
    fail(ExitCode::bad_input,
         "coder {}: no ICD-10-CM release in the store; run `medcode import icd10cm` first", name);
  }
  return *release;
}

std::unique_ptr<Coder> make_model_coder(store::Database& db, const std::optional<codes::ReleaseInfo>& release,
                                        const std::string& name, const CoderOptions& options) {
  model::PredictOptions predict = options.model;
  predict.model_dir = name.substr(k_model_coder_prefix.size());
  if (predict.model_dir.empty()) fail(ExitCode::usage, "coder {}: name the model folder (model:DIR)", name);
  if (release) {
    predict.system = release->system;
    predict.year = release->year;
  }
  std::string coder_name = std::string(k_model_coder_prefix) + predict.model_dir.lexically_normal().string();
  return std::make_unique<ModelCoder>(model::model_stack().open_predictor(db, predict), coder_name);
}

}  // namespace

std::unique_ptr<Coder> make_coder(store::Database& db, const std::optional<codes::ReleaseInfo>& release,
                                  const std::string& name, const CoderOptions& options) {
  if (name == "bm25") return Bm25Coder::build(db, require_release(release, name), false);
  if (name == "bm25+terms") return Bm25Coder::build(db, require_release(release, name), true);
  if (name == "index") {
    IndexCoderOptions index;
    if (options.min_score) index.min_score = *options.min_score;
    index.top_k = options.top_k;
    index.threads = options.threads;
    return IndexCoder::open(db, require_release(release, name), index);
  }
  if (name.rfind(k_rerank_coder_prefix, 0) == 0) {
    std::filesystem::path path = name.substr(k_rerank_coder_prefix.size());
    if (path.empty()) fail(ExitCode::usage, "coder {}: name the reranker file (index+rerank:PATH)", name);
    Reranker reranker = Reranker::load(path);
    const codes::ReleaseInfo& base = require_release(release, name);
    if (reranker.system() != base.system)
      fail(ExitCode::usage, "{}: the reranker was trained on {} candidates; this command codes {}",
           path.string(), codes::system_display_name(reranker.system()),
           codes::system_display_name(base.system));
    if (reranker.year() != base.year)
      spdlog::warn("{}: the reranker was trained on {} {} candidates; coding with the {} release",
                   path.string(), codes::system_display_name(reranker.system()), reranker.year(), base.year);
    // A reranker trained with a model's rankings as a feature needs that model again.
    std::unique_ptr<Coder> model;
    if (const auto& dir = reranker.model_dir()) {
      std::error_code error;
      if (!std::filesystem::is_directory(*dir, error))
        fail(ExitCode::bad_input, "{}: the reranker's model {} is missing; train the reranker again",
             path.string(), dir->string());
      model = make_model_coder(db, base, std::string(k_model_coder_prefix) + dir->string(), options);
    }
    IndexCoderOptions index;
    index.keep_negated = true;  // negation is one of the reranker's features
    index.threads = options.threads;
    return std::make_unique<RerankCoder>(IndexCoder::open(db, base, index), Bm25Coder::build(db, base, false),
                                         std::move(reranker),
                                         std::string(k_rerank_coder_prefix) + path.string(),
                                         options.min_score, options.top_k, options.threads, std::move(model));
  }
  if (name == "majority") {
    if (options.train.empty()) fail(ExitCode::bad_input, "coder majority: no training examples");
    return std::make_unique<MajorityCoder>(options.train);
  }
  if (name.rfind(k_model_coder_prefix, 0) == 0) return make_model_coder(db, release, name, options);
  if (name.rfind(k_llm_coder_prefix, 0) == 0) {
    if (options.min_score)
      fail(ExitCode::usage, "coder {}: --min-score does not apply (the model decides what it assigns)", name);
    LlmCoderOptions llm = options.llm;
    llm.top_k = options.top_k;
    llm.threads = options.threads;
    return LlmCoder::open(db, require_release(release, name), name.substr(k_llm_coder_prefix.size()), llm);
  }
  fail(ExitCode::usage, "unknown coder '{}' (accepted: {})", name, k_coder_names);
}

ModelCoder::ModelCoder(std::unique_ptr<model::CodePredictor> predictor, std::string name)
    : m_predictor(std::move(predictor)), m_name(std::move(name)) {}

const std::string& ModelCoder::version() const { return m_predictor->version(); }

std::vector<RankedCode> ModelCoder::code(std::string_view text, std::size_t k) const {
  return predict(text, k).ranked;
}

std::vector<std::vector<RankedCode>> ModelCoder::code_many(const std::vector<std::string>& texts,
                                                           std::size_t k) const {
  std::vector<std::vector<RankedCode>> answers;
  for (auto& prediction : predict_many(texts, k)) answers.push_back(std::move(prediction.ranked));
  return answers;
}

Prediction ModelCoder::predict(std::string_view text, std::size_t k) const {
  return predict_many({std::string(text)}, k).front();
}

std::vector<Prediction> ModelCoder::predict_many(const std::vector<std::string>& texts, std::size_t k) const {
  std::vector<Prediction> answers;
  for (const model::Prediction& prediction : m_predictor->predict(texts)) {
    Prediction answer;
    for (const auto& code : prediction.ranked) {
      if (answer.ranked.size() == std::max(k, prediction.codes.size())) break;
      answer.ranked.push_back({code.code, code.score});
    }
    answer.n_predicted = std::min(prediction.codes.size(), answer.ranked.size());
    answer.completion = prediction.completion;
    answer.prompt_tokens = prediction.n_prompt_tokens;
    answer.generated_tokens = prediction.n_generated_tokens;
    answers.push_back(std::move(answer));
  }
  return answers;
}

}  // namespace medcode::eval
