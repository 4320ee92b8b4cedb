// The evaluation metrics: micro and macro P/R/F1 over predicted sets; MAP, P@k and R@k over rankings (on
// codes and on 3-character categories); micro P/R at each ranking depth (the P/R curve); exact match and
// per-chapter scores. Every 0/0 is 0; docs/evaluate.md defines each figure as computed here.
#include "medcode/eval/evaluation.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <unordered_set>

#include "medcode/util/error.h"

namespace medcode::eval {

namespace {

double ratio(std::int64_t numerator, std::int64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

double f1_of(double precision, double recall) {
  return precision + recall == 0 ? 0.0 : 2 * precision * recall / (precision + recall);
}

// P, R and F1 from pooled counts.
void finish(PrfScores& scores) {
  scores.precision = ratio(scores.true_positives, scores.true_positives + scores.false_positives);
  scores.recall = ratio(scores.true_positives, scores.true_positives + scores.false_negatives);
  scores.f1 = f1_of(scores.precision, scores.recall);
}

// The ranking without repeated codes, so a code counts once at its best rank.
std::vector<std::string> distinct_ranking(const std::vector<RankedCode>& ranked) {
  std::vector<std::string> codes;
  std::unordered_set<std::string> seen;
  for (const auto& entry : ranked) {
    if (seen.insert(entry.code).second) codes.push_back(entry.code);
  }
  return codes;
}

std::set<std::string> predicted_set(const Prediction& prediction) {
  std::size_t n = std::min(prediction.n_predicted, prediction.ranked.size());
  std::set<std::string> codes;
  for (std::size_t i = 0; i < n; ++i) codes.insert(prediction.ranked[i].code);
  return codes;
}

// Chapters in the release's order ("1" < "2" < "10"), codes without a chapter last.
bool chapter_before(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return !a.empty() && b.empty();
  bool a_number = std::all_of(a.begin(), a.end(), [](unsigned char c) { return std::isdigit(c); });
  bool b_number = std::all_of(b.begin(), b.end(), [](unsigned char c) { return std::isdigit(c); });
  if (a_number && b_number && a.size() != b.size()) return a.size() < b.size();
  if (a_number != b_number) return a_number;
  return a < b;
}

// Pooled counts per key (a code for macro averages, a chapter for the breakdown).
struct Tally {
  std::map<std::string, PrfScores> counts;
  void add(const std::set<std::string>& gold, const std::set<std::string>& predicted,
           const std::function<std::string(const std::string&)>& key_of) {
    for (const auto& code : predicted) {
      auto& scores = counts[key_of(code)];
      ++(gold.count(code) ? scores.true_positives : scores.false_positives);
    }
    for (const auto& code : gold) {
      if (!predicted.count(code)) ++counts[key_of(code)].false_negatives;
    }
  }
};

// The 3-character category of a code ("N44.8" -> "N44", "BT41ZZZ" -> "BT4").
std::string category_of(const std::string& code) { return code.substr(0, 3); }

// The codes' categories, each once, in the codes' order.
std::vector<std::string> distinct_categories(const std::vector<std::string>& codes) {
  std::vector<std::string> categories;
  for (const auto& code : codes) {
    std::string category = category_of(code);
    if (std::find(categories.begin(), categories.end(), category) == categories.end())
      categories.push_back(std::move(category));
  }
  return categories;
}

std::size_t hits_in_top(const std::vector<std::string>& ranking, const std::vector<std::string>& gold,
                        std::size_t k) {
  std::size_t top = std::min(k, ranking.size());
  return static_cast<std::size_t>(std::count_if(
      ranking.begin(), ranking.begin() + static_cast<std::ptrdiff_t>(top),
      [&](const std::string& code) { return std::find(gold.begin(), gold.end(), code) != gold.end(); }));
}

// Ranks the official CodiEsp scorer reads (trectools' default depth).
constexpr std::size_t k_map_depth = 1000;

// Average precision as trec_eval and CodiEsp's scorer compute it: the sum, over the ranks i (up to
// k_map_depth) that hold a gold code, of the share of gold codes among the first i, divided by the number of
// gold codes (so a gold code never ranked adds 0). `ranking` holds each code once.
double average_precision(const std::vector<std::string>& ranking, const std::vector<std::string>& gold) {
  double sum = 0;
  std::size_t found = 0;
  for (std::size_t i = 0; i < std::min(ranking.size(), k_map_depth); ++i) {
    if (std::find(gold.begin(), gold.end(), ranking[i]) == gold.end()) continue;
    ++found;
    sum += static_cast<double>(found) / static_cast<double>(i + 1);
  }
  return gold.empty() ? 0.0 : sum / static_cast<double>(gold.size());
}

// Sums of P@k and R@k over examples, divided at the end.
struct AtKSums {
  std::vector<ScoresAtK> scores;
  explicit AtKSums(const std::vector<std::size_t>& ks) {
    for (std::size_t k : ks) scores.push_back({k, 0, 0});
  }
  void add(const std::vector<std::string>& ranking, const std::vector<std::string>& gold) {
    for (auto& at : scores) {
      std::size_t hits = hits_in_top(ranking, gold, at.k);
      at.precision += static_cast<double>(hits) / static_cast<double>(at.k);
      at.recall += static_cast<double>(hits) / static_cast<double>(gold.size());
    }
  }
  std::vector<ScoresAtK> means(std::int64_t n) const {
    std::vector<ScoresAtK> out = scores;
    for (auto& at : out) {
      at.precision = n == 0 ? 0.0 : at.precision / static_cast<double>(n);
      at.recall = n == 0 ? 0.0 : at.recall / static_cast<double>(n);
    }
    return out;
  }
};

// MAP, P@k and R@k (on codes and on categories), each a mean over the examples that have gold codes: an
// example with nothing to find has no precision at a rank and no recall.
void score_rankings(const std::vector<EvalExample>& examples, const std::vector<Prediction>& predictions,
                    EvalResult& result, const std::vector<std::size_t>& ks) {
  AtKSums codes(ks);
  AtKSums categories(ks);
  double sum_average_precision = 0;
  std::int64_t n_with_gold = 0;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const auto& gold = examples[i].gold;
    if (gold.empty()) continue;
    ++n_with_gold;
    std::vector<std::string> ranking = distinct_ranking(predictions[i].ranked);
    sum_average_precision += average_precision(ranking, gold);
    codes.add(ranking, gold);
    categories.add(distinct_categories(ranking), distinct_categories(gold));
  }
  result.map = n_with_gold == 0 ? 0.0 : sum_average_precision / static_cast<double>(n_with_gold);
  result.at_k = codes.means(n_with_gold);
  result.category_at_k = categories.means(n_with_gold);
}

// Micro P and R when each example's first k distinct ranked codes are its answer, for k = 1 .. depth. Pooled
// over every example as the micro figures are, so an example without gold adds its codes as false positives;
// a ranking shorter than k answers with all its codes.
std::vector<ScoresAtK> micro_curve(const std::vector<EvalExample>& examples,
                                   const std::vector<Prediction>& predictions, std::size_t depth) {
  std::vector<std::int64_t> true_positives(depth, 0);
  std::vector<std::int64_t> answered(depth, 0);
  std::int64_t n_gold = 0;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    std::set<std::string> gold(examples[i].gold.begin(), examples[i].gold.end());
    n_gold += static_cast<std::int64_t>(gold.size());
    std::vector<std::string> ranking = distinct_ranking(predictions[i].ranked);
    std::int64_t hits = 0;
    for (std::size_t k = 1; k <= depth; ++k) {
      if (k <= ranking.size() && gold.count(ranking[k - 1])) ++hits;
      true_positives[k - 1] += hits;
      answered[k - 1] += static_cast<std::int64_t>(std::min(k, ranking.size()));
    }
  }
  std::vector<ScoresAtK> curve;
  for (std::size_t k = 1; k <= depth; ++k) {
    curve.push_back({k, ratio(true_positives[k - 1], answered[k - 1]), ratio(true_positives[k - 1], n_gold)});
  }
  return curve;
}

// The mean over gold codes of each code's P, R and F1; a code never predicted has precision 0.
PrfScores macro_average(const std::map<std::string, PrfScores>& per_code) {
  PrfScores macro;
  std::size_t n = 0;
  for (const auto& [code, counts] : per_code) {
    if (counts.true_positives + counts.false_negatives == 0) continue;  // predicted, never gold
    PrfScores scores = counts;
    finish(scores);
    macro.precision += scores.precision;
    macro.recall += scores.recall;
    macro.f1 += scores.f1;
    ++n;
  }
  if (n > 0) {
    macro.precision /= static_cast<double>(n);
    macro.recall /= static_cast<double>(n);
    macro.f1 /= static_cast<double>(n);
  }
  return macro;
}

}  // namespace

nlohmann::json prf_json(const PrfScores& scores, bool with_counts) {
  nlohmann::json out = {{"precision", scores.precision}, {"recall", scores.recall}, {"f1", scores.f1}};
  if (with_counts) {
    out["true_positives"] = scores.true_positives;
    out["false_positives"] = scores.false_positives;
    out["false_negatives"] = scores.false_negatives;
  }
  return out;
}

Prediction predict(const Coder& coder, std::string_view text, std::size_t k) {
  if (const auto* deciding = dynamic_cast<const DecidingCoder*>(&coder)) return deciding->predict(text, k);
  Prediction prediction;
  prediction.ranked = coder.code(text, std::max<std::size_t>(k, 1));
  prediction.n_predicted = std::min<std::size_t>(1, prediction.ranked.size());
  return prediction;
}

std::vector<Prediction> predict_all(const Coder& coder, const std::vector<EvalExample>& examples,
                                    std::size_t k, const util::ProgressCallback& progress) {
  std::vector<Prediction> predictions;
  predictions.reserve(examples.size());
  const auto total = static_cast<std::uint64_t>(examples.size());
  if (const auto* deciding = dynamic_cast<const DecidingCoder*>(&coder)) {
    constexpr std::size_t k_chunk = 64;  // texts handed to a batching coder at once
    for (std::size_t start = 0; start < examples.size(); start += k_chunk) {
      std::vector<std::string> texts;
      for (std::size_t i = start; i < std::min(examples.size(), start + k_chunk); ++i)
        texts.push_back(examples[i].text);
      for (auto& prediction : deciding->predict_many(texts, std::max<std::size_t>(k, 1)))
        predictions.push_back(std::move(prediction));
      util::report(progress, "evaluate", predictions.size(), total);
    }
    return predictions;
  }
  for (const auto& example : examples) {
    predictions.push_back(predict(coder, example.text, k));
    util::report(progress, "evaluate", predictions.size(), total);
  }
  return predictions;
}

UnknownGold find_unknown_gold(const std::vector<EvalExample>& examples, const CodeMembership& in_release,
                              std::size_t n_shown) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& example : examples) {
    for (const auto& code : example.gold) {
      if (!in_release(code)) ++counts[code];
    }
  }
  UnknownGold unknown;
  unknown.n_codes = static_cast<std::int64_t>(counts.size());
  std::vector<std::pair<std::string, std::int64_t>> by_count(counts.begin(), counts.end());
  // Stable over the map's code order, so ties go to the smaller code.
  std::stable_sort(by_count.begin(), by_count.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [code, count] : by_count) {
    unknown.n_gold += count;
    if (unknown.examples.size() < n_shown) unknown.examples.push_back(code);
  }
  return unknown;
}

EvalResult evaluate(const std::vector<EvalExample>& examples, const std::vector<Prediction>& predictions,
                    const EvalOptions& options, const ChapterLookup& chapter_of) {
  if (examples.size() != predictions.size()) {
    fail(ExitCode::internal, "evaluate: {} examples but {} predictions", examples.size(), predictions.size());
  }
  for (std::size_t k : options.ks) {
    if (k == 0) fail(ExitCode::usage, "--k: every cut-off must be at least 1");
  }
  EvalResult result;
  result.n_examples = static_cast<std::int64_t>(examples.size());
  Tally per_code;
  Tally per_chapter;
  std::int64_t exact = 0;
  auto identity = [](const std::string& code) { return code; };
  auto chapter = [&](const std::string& code) { return chapter_of ? chapter_of(code) : std::string(); };
  for (std::size_t i = 0; i < examples.size(); ++i) {
    std::set<std::string> gold(examples[i].gold.begin(), examples[i].gold.end());
    std::set<std::string> predicted = predicted_set(predictions[i]);
    result.n_gold += static_cast<std::int64_t>(gold.size());
    result.n_predicted += static_cast<std::int64_t>(predicted.size());
    if (predicted.empty()) ++result.n_without_prediction;
    if (gold.empty()) ++result.n_without_gold;
    if (predicted == gold) ++exact;
    per_code.add(gold, predicted, identity);
    per_chapter.add(gold, predicted, chapter);
  }
  for (const auto& [code, counts] : per_code.counts) {
    result.micro.true_positives += counts.true_positives;
    result.micro.false_positives += counts.false_positives;
    result.micro.false_negatives += counts.false_negatives;
    if (counts.true_positives + counts.false_negatives > 0) ++result.n_labels;
  }
  finish(result.micro);
  result.macro = macro_average(per_code.counts);
  result.exact_match = ratio(exact, result.n_examples);
  score_rankings(examples, predictions, result, options.ks);
  result.pr_curve = micro_curve(examples, predictions, k_pr_curve_depth);
  if (options.in_release) result.unknown_gold = find_unknown_gold(examples, options.in_release);
  for (auto& [key, counts] : per_chapter.counts) {
    finish(counts);
    result.chapters.push_back({key, counts.true_positives + counts.false_negatives, counts});
  }
  std::sort(
      result.chapters.begin(), result.chapters.end(),
      [](const ChapterScores& a, const ChapterScores& b) { return chapter_before(a.chapter, b.chapter); });
  return result;
}

nlohmann::json EvalResult::to_json() const {
  auto at_json = [](const std::vector<ScoresAtK>& rows) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& scores : rows) {
      out.push_back({{"k", scores.k}, {"precision", scores.precision}, {"recall", scores.recall}});
    }
    return out;
  };
  nlohmann::json by_chapter = nlohmann::json::array();
  for (const auto& row : chapters) {
    nlohmann::json entry = prf_json(row.scores, true);
    entry["chapter"] = row.chapter;
    entry["support"] = row.support;
    by_chapter.push_back(std::move(entry));
  }
  nlohmann::json macro_json = prf_json(macro, false);
  macro_json["codes"] = n_labels;
  // null when the gold was not checked against a release
  nlohmann::json n_gold_unknown = unknown_gold ? nlohmann::json(unknown_gold->n_gold) : nlohmann::json();
  nlohmann::json n_labels_unknown = unknown_gold ? nlohmann::json(unknown_gold->n_codes) : nlohmann::json();
  nlohmann::json unknown_examples = unknown_gold ? nlohmann::json(unknown_gold->examples) : nlohmann::json();
  return {{"n_examples", n_examples},
          {"n_gold", n_gold},
          {"n_predicted", n_predicted},
          {"n_labels", n_labels},
          {"n_without_prediction", n_without_prediction},
          {"n_without_gold", n_without_gold},
          {"n_gold_unknown", n_gold_unknown},
          {"n_labels_unknown", n_labels_unknown},
          {"unknown_gold_examples", unknown_examples},
          {"micro", prf_json(micro, true)},
          {"macro", macro_json},
          {"map", map},
          {"at_k", at_json(at_k)},
          {"category_at_k", at_json(category_at_k)},
          {"pr_curve", at_json(pr_curve)},
          {"exact_match", exact_match},
          {"chapters", by_chapter}};
}

}  // namespace medcode::eval
