// The learned reranker over the index coder's candidates: features, training with out-of-fold priors, the
// threshold chosen on a development set, the versioned file, and the coder that uses it.
#include "medcode/eval/reranker.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/parallel.h"

namespace medcode::eval {

namespace {

constexpr std::string_view k_format_name = "medcode-reranker";

std::string category_of(const std::string& code) {
  return code.substr(0, std::min<std::size_t>(3, code.size()));
}

float ratio(double a, double b) { return b == 0 ? 0.0f : static_cast<float>(a / b); }

// 1 / (rank + 1) of `code` in `ranking`, 0 when it is not there.
float reciprocal_rank(const std::vector<RankedCode>& ranking, const std::string& code) {
  for (std::size_t r = 0; r < ranking.size(); ++r) {
    if (ranking[r].code == code) return 1.0f / float(r + 1);
  }
  return 0.0f;
}

// The index coder's candidates for every note (negated mentions kept: the reranker weighs them).
std::vector<std::vector<Candidate>> all_candidates(const IndexCoder& index,
                                                   const std::vector<EvalExample>& notes, int threads) {
  std::vector<std::vector<Candidate>> out(notes.size());
  util::parallel_for(notes.size(), threads,
                     [&](std::size_t i) { out[i] = index.with_relatives(index.candidates(notes[i].text)); });
  return out;
}

void count_priors(const std::vector<Candidate>& candidates, const EvalExample& note,
                  std::map<std::string, CodePrior>& priors, std::map<std::string, std::int64_t>& categories) {
  std::set<std::string> gold(note.gold.begin(), note.gold.end());
  std::set<std::string> gold_categories;
  for (const auto& code : gold) {
    ++priors[code].gold;
    gold_categories.insert(category_of(code));
  }
  for (const auto& category : gold_categories) ++categories[category];
  for (const auto& candidate : candidates) {
    auto& prior = priors[candidate.code];
    ++prior.proposed;
    if (gold.count(candidate.code)) ++prior.gold_when_proposed;
  }
}

// Micro P/R/F1 of the candidates whose probability reaches `threshold`, as `evaluate` scores them.
PrfScores micro_at(const std::vector<std::vector<Candidate>>& candidates,
                   const std::vector<std::vector<float>>& scores, const std::vector<EvalExample>& notes,
                   double threshold) {
  std::vector<Prediction> predictions(notes.size());
  for (std::size_t i = 0; i < notes.size(); ++i) {
    for (std::size_t c = 0; c < candidates[i].size(); ++c) {
      if (scores[i][c] >= threshold) predictions[i].ranked.push_back({candidates[i][c].code, scores[i][c]});
    }
    predictions[i].n_predicted = predictions[i].ranked.size();
  }
  return evaluate(notes, predictions, {}, {}).micro;
}

}  // namespace

nlohmann::json RerankerSummary::to_json() const {
  nlohmann::json curve_json = nlohmann::json::array();
  for (const auto& point : curve)
    curve_json.push_back({{"threshold", point.threshold}, {"micro", prf_json(point.micro, true)}});
  return {{"train_notes", train_notes},
          {"train_candidates", train_candidates},
          {"train_positives", train_positives},
          {"train_gold", train_gold},
          {"dev_notes", dev_notes},
          {"threshold", threshold},
          {"dev_micro", prf_json(dev_micro, true)},
          {"curve", curve_json}};
}

const std::vector<std::string>& Reranker::feature_names() {
  static const std::vector<std::string> names = {"index_score",
                                                 "kind_index_term",
                                                 "kind_index_see",
                                                 "kind_description",
                                                 "kind_inclusion_term",
                                                 "depth",
                                                 "matched_words",
                                                 "coverage",
                                                 "mentions",
                                                 "negated_share",
                                                 "uncertain_share",
                                                 "history_share",
                                                 "family_share",
                                                 "all_negated",
                                                 "first_position",
                                                 "has_section",
                                                 "diagnosis_section",
                                                 "prior_gold",
                                                 "prior_category_gold",
                                                 "prior_precision",
                                                 "prior_proposed",
                                                 "code_length",
                                                 "chapter_letter",
                                                 "bm25_rank",
                                                 "candidates_in_note",
                                                 "rank_in_note",
                                                 "siblings_in_note",
                                                 "evidence_words",
                                                 "subsumed_share",
                                                 "relation_parent",
                                                 "relation_unspecified_child",
                                                 "relation_unspecified_sibling",
                                                 "model_rank"};
  return names;
}

std::vector<float> Reranker::features(const std::vector<Candidate>& candidates, const Bm25Coder& bm25,
                                      const std::map<std::string, CodePrior>& priors,
                                      const std::map<std::string, std::int64_t>& categories,
                                      std::size_t n_notes,
                                      const std::vector<RankedCode>* model_ranking) const {
  const std::size_t width = feature_names().size();
  std::vector<float> out;
  out.reserve(candidates.size() * width);
  std::map<std::string, int> per_category;
  for (const auto& candidate : candidates) ++per_category[category_of(candidate.code)];
  std::unordered_map<std::string, std::vector<RankedCode>> bm25_rankings;  // by the words looked up
  for (std::size_t rank = 0; rank < candidates.size(); ++rank) {
    const Candidate& c = candidates[rank];
    double mentions = static_cast<double>(std::max<std::size_t>(c.n_mentions, 1));
    auto prior = priors.find(c.code);
    CodePrior p = prior == priors.end() ? CodePrior{} : prior->second;
    auto category = categories.find(category_of(c.code));
    double category_gold = category == categories.end() ? 0.0 : double(category->second);
    // BM25's rank of the code for the words of its best mention: does plain retrieval agree? A relative
    // shares the mention of the code it is related to, so each mention is looked up once per note.
    float bm25_rank = 0;
    if (!c.evidence.empty()) {
      const std::string& words = c.evidence.front().text;
      auto found = bm25_rankings.find(words);
      if (found == bm25_rankings.end()) found = bm25_rankings.emplace(words, bm25.code(words, 20)).first;
      bm25_rank = reciprocal_rank(found->second, c.code);
    }
    // The trained model's rank of the code for the note: does the transformer agree?
    float model_rank = model_ranking ? reciprocal_rank(*model_ranking, c.code) : 0.0f;
    std::size_t evidence_words = 0;
    if (!c.evidence.empty()) {
      const std::string& text = c.evidence.front().text;
      evidence_words = 1 + static_cast<std::size_t>(std::count(text.begin(), text.end(), ' '));
    }
    float values[] = {
        float(c.score),
        c.kind == MatchKind::index_term ? 1.0f : 0.0f,
        c.kind == MatchKind::index_see ? 1.0f : 0.0f,
        c.kind == MatchKind::description ? 1.0f : 0.0f,
        c.kind == MatchKind::inclusion_term ? 1.0f : 0.0f,
        float(c.depth),
        float(c.matched_words),
        float(c.coverage),
        float(c.n_mentions),
        float(double(c.n_negated) / mentions),
        float(double(c.n_uncertain) / mentions),
        float(double(c.n_history) / mentions),
        float(double(c.n_family) / mentions),
        c.n_negated == c.n_mentions ? 1.0f : 0.0f,
        ratio(double(c.first_sentence), double(std::max<std::size_t>(c.n_sentences, 1))),
        c.section.empty() ? 0.0f : 1.0f,
        c.section.find("diagnos") != std::string::npos ? 1.0f : 0.0f,
        float(std::log1p(double(p.gold))),
        float(std::log1p(category_gold)),
        float((double(p.gold_when_proposed) + 0.1) / (double(p.proposed) + 1.0)),
        float(std::log1p(double(p.proposed))),
        float(c.code.size()),
        c.code.empty() ? 0.0f : float(c.code[0] - 'A'),
        bm25_rank,
        float(candidates.size()),
        ratio(double(rank), double(candidates.size())),
        float(per_category[category_of(c.code)]),
        float(evidence_words),
        float(double(c.n_subsumed) / mentions),
        c.relation == Candidate::Relation::parent ? 1.0f : 0.0f,
        c.relation == Candidate::Relation::unspecified_child ? 1.0f : 0.0f,
        c.relation == Candidate::Relation::unspecified_sibling ? 1.0f : 0.0f,
        model_rank,
    };
    static_assert(sizeof(values) / sizeof(float) == 33);
    out.insert(out.end(), std::begin(values), std::end(values));
  }
  (void)n_notes;
  return out;
}

void Reranker::compute_unproposed_rates() {
  m_unproposed.clear();
  for (const auto& [code, p] : m_priors) {
    double notes = double(m_notes) - double(p.proposed);
    double gold = double(p.gold - p.gold_when_proposed);
    if (notes > 0 && gold >= 3) m_unproposed.push_back({code, gold / notes});
  }
  std::sort(m_unproposed.begin(), m_unproposed.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (m_unproposed.size() > 100) m_unproposed.resize(100);
}

Reranker Reranker::train(const IndexCoder& index, const Bm25Coder& bm25,
                         const std::vector<EvalExample>& train, const std::vector<EvalExample>& dev,
                         const RerankerTrainOptions& options, RerankerSummary& summary) {
  if (train.empty()) fail(ExitCode::bad_input, "reranker: no training notes");
  require_xgboost();
  Reranker reranker;
  reranker.m_year = index.release().year;
  reranker.m_system = index.release().system;
  std::size_t folds = std::max<std::size_t>(2, std::min(options.folds, train.size()));
  auto candidates = all_candidates(index, train, options.threads);
  if (options.model) reranker.m_model_dir = std::filesystem::absolute(options.model_dir);
  auto model_rankings = [&](const std::vector<EvalExample>& notes) {
    ModelRankings rankings;
    if (!options.model) return rankings;
    std::vector<std::string> texts;
    for (const auto& note : notes) texts.push_back(note.text);
    rankings = options.model->code_many(texts, k_model_ranking_depth);
    return rankings;
  };
  ModelRankings train_rankings = model_rankings(train);
  auto ranking_of = [](const ModelRankings& rankings, std::size_t i) {
    return rankings.empty() ? nullptr : &rankings[i];
  };

  // Priors per fold: a note's features count only the other folds' notes.
  std::vector<std::map<std::string, CodePrior>> fold_priors(folds);
  std::vector<std::map<std::string, std::int64_t>> fold_categories(folds);
  for (std::size_t i = 0; i < train.size(); ++i) {
    for (std::size_t f = 0; f < folds; ++f) {
      if (i % folds != f) count_priors(candidates[i], train[i], fold_priors[f], fold_categories[f]);
    }
    count_priors(candidates[i], train[i], reranker.m_priors, reranker.m_categories);
  }
  reranker.m_notes = train.size();
  reranker.compute_unproposed_rates();

  std::vector<float> matrix;
  std::vector<float> labels;
  summary = {};
  summary.train_notes = train.size();
  for (std::size_t i = 0; i < train.size(); ++i) {
    auto rows = reranker.features(candidates[i], bm25, fold_priors[i % folds], fold_categories[i % folds],
                                  train.size() - train.size() / folds, ranking_of(train_rankings, i));
    matrix.insert(matrix.end(), rows.begin(), rows.end());
    std::set<std::string> gold(train[i].gold.begin(), train[i].gold.end());
    summary.train_gold += gold.size();
    for (const auto& candidate : candidates[i]) {
      bool positive = gold.count(candidate.code) > 0;
      labels.push_back(positive ? 1.0f : 0.0f);
      summary.train_positives += positive;
    }
  }
  summary.train_candidates = labels.size();
  if (summary.train_positives == 0 || summary.train_positives == labels.size())
    fail(ExitCode::bad_input, "reranker: the training notes' candidates are all {}; nothing to learn",
         summary.train_positives == 0 ? "wrong" : "right");
  const std::size_t width = feature_names().size();
  reranker.m_trees = BoostedTrees::train({matrix, labels.size(), width}, labels, {}, options.trees);

  // The threshold: the best micro-F1 on the development notes.
  const std::vector<EvalExample>& tune = dev.empty() ? train : dev;
  auto tune_candidates = dev.empty() ? candidates : all_candidates(index, dev, options.threads);
  ModelRankings tune_rankings = dev.empty() ? std::move(train_rankings) : model_rankings(dev);
  std::vector<std::vector<float>> tune_scores;
  for (std::size_t i = 0; i < tune_candidates.size(); ++i)
    tune_scores.push_back(reranker.score(tune_candidates[i], bm25, ranking_of(tune_rankings, i)));
  summary.dev_notes = dev.size();
  double best_f1 = -1;
  for (int step = 5; step <= 95; ++step) {
    double threshold = step / 100.0;
    PrfScores micro = micro_at(tune_candidates, tune_scores, tune, threshold);
    summary.curve.push_back({threshold, micro});
    if (micro.f1 > best_f1) {
      best_f1 = micro.f1;
      reranker.m_threshold = threshold;
      summary.dev_micro = micro;
    }
  }
  summary.threshold = reranker.m_threshold;
  reranker.m_summary = summary.to_json();
  reranker.m_summary.erase("curve");
  return reranker;
}

std::vector<float> Reranker::score(const std::vector<Candidate>& candidates, const Bm25Coder& bm25,
                                   const std::vector<RankedCode>* model_ranking) const {
  if (candidates.empty()) return {};
  auto rows = features(candidates, bm25, m_priors, m_categories, m_notes, model_ranking);
  return m_trees->predict({rows, candidates.size(), feature_names().size()});
}

void Reranker::save(const std::filesystem::path& path) const {
  nlohmann::json priors = nlohmann::json::object();
  for (const auto& [code, p] : m_priors) priors[code] = {p.gold, p.proposed, p.gold_when_proposed};
  nlohmann::json file = {{"format", k_format_name},
                         {"version", k_reranker_format_version},
                         {"release", {{"system", codes::system_name(m_system)}, {"year", m_year}}},
                         {"features", feature_names()},
                         {"model", m_model_dir ? nlohmann::json(m_model_dir->string()) : nlohmann::json()},
                         {"threshold", m_threshold},
                         {"training", m_summary},
                         {"notes", m_notes},
                         {"priors", priors},
                         {"categories", m_categories},
                         {"trees", nlohmann::json::parse(m_trees->save())}};
  util::write_file_atomic(path, file.dump() + "\n");
}

Reranker Reranker::load(const std::filesystem::path& path) {
  std::string text;
  try {
    text = util::read_file(path);
  } catch (const Error&) {
    fail(ExitCode::bad_input, "{}: cannot read the reranker file", path.string());
  }
  nlohmann::json file = nlohmann::json::parse(text, nullptr, false);
  if (file.is_discarded() || !file.is_object() || file.value("format", "") != k_format_name)
    fail(ExitCode::bad_input, "{}: not a medcode reranker file (train one with `medcode reranker train`)",
         path.string());
  if (file.value("version", 0) != k_reranker_format_version)
    fail(ExitCode::bad_input,
         "{}: reranker format version {} is not the {} this medcode reads; train it again", path.string(),
         file.value("version", 0), k_reranker_format_version);
  Reranker reranker;
  try {
    if (file.at("features").get<std::vector<std::string>>() != feature_names())
      fail(ExitCode::bad_input, "{}: the reranker was trained on other features; train it again",
           path.string());
    reranker.m_threshold = file.at("threshold").get<double>();
    if (file.contains("model") && !file.at("model").is_null())
      reranker.m_model_dir = file.at("model").get<std::string>();
    reranker.m_year = file.at("release").at("year").get<int>();
    std::string system = file.at("release").at("system").get<std::string>();
    auto parsed = codes::parse_system(system);
    if (!parsed || (*parsed != codes::System::icd10cm && *parsed != codes::System::icd10pcs))
      fail(ExitCode::bad_input, "{}: a reranker of '{}' codes; the index coder codes icd10cm and icd10pcs",
           path.string(), system);
    reranker.m_system = *parsed;
    reranker.m_notes = file.at("notes").get<std::size_t>();
    for (const auto& [code, p] : file.at("priors").items())
      reranker.m_priors[code] = {p.at(0).get<std::int64_t>(), p.at(1).get<std::int64_t>(),
                                 p.at(2).get<std::int64_t>()};
    reranker.m_categories = file.at("categories").get<std::map<std::string, std::int64_t>>();
    reranker.m_summary = file.value("training", nlohmann::json::object());
    reranker.m_trees = BoostedTrees::load(file.at("trees").dump());
  } catch (const nlohmann::json::exception& error) {
    fail(ExitCode::bad_input, "{}: a field of the reranker file is missing or of the wrong type ({})",
         path.string(), error.what());
  }
  reranker.compute_unproposed_rates();
  if (reranker.m_trees->n_features() != feature_names().size())
    fail(ExitCode::bad_input, "{}: the reranker's trees expect {} features, not {}", path.string(),
         reranker.m_trees->n_features(), feature_names().size());
  return reranker;
}

RerankCoder::RerankCoder(std::unique_ptr<IndexCoder> index, std::unique_ptr<Bm25Coder> bm25,
                         Reranker reranker, std::string name, std::optional<double> min_score,
                         std::size_t top_k, int threads, std::unique_ptr<Coder> model)
    : m_index(std::move(index)),
      m_bm25(std::move(bm25)),
      m_reranker(std::move(reranker)),
      m_model(std::move(model)),
      m_name(std::move(name)),
      m_threshold(min_score.value_or(m_reranker.threshold())),
      m_top_k(top_k),
      m_threads(threads) {}

std::vector<Prediction> RerankCoder::predict_many(const std::vector<std::string>& texts,
                                                  std::size_t k) const {
  std::vector<std::vector<Candidate>> candidates(texts.size());
  util::parallel_for(texts.size(), m_threads, [&](std::size_t i) {
    candidates[i] = m_index->with_relatives(m_index->candidates(texts[i]));
  });
  ModelRankings rankings;
  if (m_model) rankings = m_model->code_many(texts, k_model_ranking_depth);
  std::vector<Prediction> predictions;
  for (std::size_t n = 0; n < candidates.size(); ++n) {
    auto& note = candidates[n];
    std::vector<float> scores = m_reranker.score(note, *m_bm25, rankings.empty() ? nullptr : &rankings[n]);
    std::vector<std::size_t> order(note.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    Prediction prediction;
    for (std::size_t i : order) {
      if (scores[i] >= m_threshold && (m_top_k == 0 || prediction.n_predicted < m_top_k) &&
          prediction.n_predicted == prediction.ranked.size())
        ++prediction.n_predicted;
      prediction.ranked.push_back({note[i].code, double(scores[i]), std::move(note[i].evidence)});
    }
    // Below the assigned codes, the ranking goes on with codes the note's words did not lead to, by how often
    // such a code was right anyway in the training notes: never assigned (no evidence), but ranked for P@k
    // and MAP where they are likelier than the remaining candidates.
    std::set<std::string> ranked_codes;
    for (const auto& code : prediction.ranked) ranked_codes.insert(code.code);
    std::vector<RankedCode> tail;
    for (const auto& [code, rate] : m_reranker.unproposed_rates()) {
      if (tail.size() == k) break;
      if (!ranked_codes.count(code)) tail.push_back({code, std::min(rate, m_threshold * 0.999), {}});
    }
    auto first_unassigned = prediction.ranked.begin() + static_cast<std::ptrdiff_t>(prediction.n_predicted);
    tail.insert(tail.end(), std::make_move_iterator(first_unassigned),
                std::make_move_iterator(prediction.ranked.end()));
    prediction.ranked.erase(first_unassigned, prediction.ranked.end());
    std::stable_sort(tail.begin(), tail.end(),
                     [](const RankedCode& a, const RankedCode& b) { return a.score > b.score; });
    prediction.ranked.insert(prediction.ranked.end(), std::make_move_iterator(tail.begin()),
                             std::make_move_iterator(tail.end()));
    std::size_t keep = std::max(k, prediction.n_predicted);
    if (prediction.ranked.size() > keep) prediction.ranked.resize(keep);
    predictions.push_back(std::move(prediction));
  }
  return predictions;
}

Prediction RerankCoder::predict(std::string_view text, std::size_t k) const {
  return predict_many({std::string(text)}, k).front();
}

std::vector<RankedCode> RerankCoder::code(std::string_view text, std::size_t k) const {
  auto ranked = predict(text, k).ranked;
  if (ranked.size() > k) ranked.resize(k);
  return ranked;
}

}  // namespace medcode::eval
