// Evaluation of a coder on a labelled dataset: the examples, the coder's predictions, and the metrics (micro
// and macro P/R/F1, MAP, P@k and R@k on full codes and on 3-character categories, a micro precision/recall
// curve over ranking depths, exact match, per ICD-10-CM chapter) that baselines, document coders and models
// share.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/eval/coder.h"
#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::eval {

struct EvalExample {
  std::string text;
  std::vector<std::string> gold;  // canonical, distinct, in the file's order; empty for a note with nothing
                                  // to code (a CodiEsp case without procedures)
  std::string id = {};            // the document's identifier where the dataset has one (CodiEsp's articleID)
};

struct EvalDatasetOptions {
  std::optional<std::string> split;  // keep only lines whose `split` is this
  std::optional<std::size_t> limit;  // keep only the first N examples (after the split filter)
};

// Reads a JSON Lines dataset (the `descriptions-to-codes.*.jsonl` files of `medcode export`): each line an
// object with `text` (a non-empty string) and `codes` (a non-empty array of codes in any common form),
// canonicalised in the system of `source_system` when the line has one, else the system their shape suggests.
// Blank lines are skipped. A missing file, a malformed line (naming file:line and the field) or no example
// left after the filters is Error(bad_input).
std::vector<EvalExample> load_eval_dataset(const std::filesystem::path& path,
                                           const EvalDatasetOptions& options = {});

// The training examples of a baseline: the lines of `path` whose split is `train` or that have none, so a
// file holding every split cannot leak test labels into the baseline.
std::vector<EvalExample> load_train_examples(const std::filesystem::path& path);

// `descriptions-to-codes.golden.train.jsonl` beside `dataset_path`, when that file exists.
std::optional<std::filesystem::path> default_train_path(const std::filesystem::path& dataset_path);

// A coder's answer for one example: its ranking, of which the first `n_predicted` codes are the predicted set
// (what it would assign); the rest of the ranking counts only for P@k and R@k.
struct Prediction {
  std::vector<RankedCode> ranked;
  std::size_t n_predicted = 0;
  // A generative coder's own words and token counts (a trained model's completion); empty and 0 otherwise.
  std::string completion = {};
  std::size_t prompt_tokens = 0;
  std::size_t generated_tokens = 0;
};

// A coder that decides how many of its ranked codes it assigns (a generative model emits a set of codes).
// Any other coder assigns its top code.
class DecidingCoder : public Coder {
 public:
  virtual Prediction predict(std::string_view text, std::size_t k) const = 0;
  // The same for many texts; a coder that works faster in batches (a trained model) overrides it.
  virtual std::vector<Prediction> predict_many(const std::vector<std::string>& texts, std::size_t k) const {
    std::vector<Prediction> predictions;
    for (const auto& text : texts) predictions.push_back(predict(text, k));
    return predictions;
  }
};

// The coder's prediction for `text` with at least `k` ranked codes when it has them.
Prediction predict(const Coder& coder, std::string_view text, std::size_t k);

// Predictions for every example, in order; progress in examples done.
std::vector<Prediction> predict_all(const Coder& coder, const std::vector<EvalExample>& examples,
                                    std::size_t k, const util::ProgressCallback& progress = {});

// Whether a canonical code is in a release.
using CodeMembership = std::function<bool(const std::string& code)>;

// Membership in `release`, looked up once per code. `db` must outlive it.
CodeMembership make_code_membership(store::Database& db, const codes::ReleaseInfo& release);

// Gold codes a release lacks (CodiEsp's Spanish code set has codes the US one does not, and procedures cut
// after the 4th character): they stay in the gold and count as misses, so they are counted, never dropped.
struct UnknownGold {
  std::int64_t n_gold = 0;            // (example, code) pairs
  std::int64_t n_codes = 0;           // distinct codes
  std::vector<std::string> examples;  // a few of the codes, the most frequent first (ties by code)
};

UnknownGold find_unknown_gold(const std::vector<EvalExample>& examples, const CodeMembership& in_release,
                              std::size_t n_shown = 5);

struct EvalOptions {
  std::vector<std::size_t> ks = {1, 3, 5};  // cut-offs of P@k and R@k, each at least 1
  CodeMembership in_release;  // when set, gold codes it lacks are counted (EvalResult::unknown_gold)
};

// The ICD-10-CM chapter key ("1" .. "22") of a canonical code; "" when it has none (another system, or a code
// the release lacks).
using ChapterLookup = std::function<std::string(const std::string& code)>;

// Chapters from the `codes.chapter` column of `release`, looked up once per code. `db` must outlive the
// lookup.
ChapterLookup make_chapter_lookup(store::Database& db, const codes::ReleaseInfo& release);

struct PrfScores {
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  std::int64_t true_positives = 0;
  std::int64_t false_positives = 0;
  std::int64_t false_negatives = 0;
};

// P, R and F1 as JSON, with the pooled counts when `with_counts` (micro and per-chapter figures have them).
nlohmann::json prf_json(const PrfScores& scores, bool with_counts);

struct ScoresAtK {
  std::size_t k = 0;
  double precision = 0;
  double recall = 0;
};

// The deepest cut-off of EvalResult::pr_curve: its points are k = 1 .. k_pr_curve_depth.
constexpr std::size_t k_pr_curve_depth = 20;

struct ChapterScores {
  std::string chapter;       // key, "" for codes without one
  std::int64_t support = 0;  // gold codes in the chapter
  PrfScores scores;
};

// The metrics, defined in docs/evaluate.md. Every 0/0 is 0.
struct EvalResult {
  std::int64_t n_examples = 0;
  std::int64_t n_gold = 0;                // gold codes over every example
  std::int64_t n_predicted = 0;           // predicted codes over every example
  std::int64_t n_labels = 0;              // distinct gold codes: the codes macro averages over
  std::int64_t n_without_prediction = 0;  // examples whose predicted set is empty
  std::int64_t n_without_gold = 0;        // examples with no gold code: left out of MAP and the @k means
  PrfScores micro;                        // over the predicted sets, pooled
  PrfScores macro;                        // mean per gold code of its P, R and F1 (counts are not set)
  double map = 0;                         // mean over examples with gold of their rankings' average precision
  std::vector<ScoresAtK> at_k;            // mean per example with gold, over the ranking
  std::vector<ScoresAtK> category_at_k;   // the same on 3-character categories
  std::vector<ScoresAtK> pr_curve;        // micro P and R when each example's first k ranked codes are its
                                          // answer, k = 1 .. k_pr_curve_depth
  double exact_match = 0;                 // share of examples whose predicted set is their gold set
  std::vector<ChapterScores> chapters;    // by chapter, "" last
  std::optional<UnknownGold>
      unknown_gold;  // gold codes the release lacks, when EvalOptions::in_release is set

  nlohmann::json to_json() const;
};

// Scores `predictions[i]` against `examples[i]`. Error(internal) when the sizes differ, Error(usage) for a k
// of 0.
EvalResult evaluate(const std::vector<EvalExample>& examples, const std::vector<Prediction>& predictions,
                    const EvalOptions& options, const ChapterLookup& chapter_of);

// The most frequent gold codes of a training set, whatever the text: the floor any coder should clear.
class MajorityCoder : public Coder {
 public:
  explicit MajorityCoder(const std::vector<EvalExample>& train);
  std::string name() const override { return "majority"; }
  // The `k` most frequent codes, by count then code; a code's score is its count.
  std::vector<RankedCode> code(std::string_view text, std::size_t k) const override;

 private:
  std::vector<RankedCode> m_ranked;
};

// Inserts one `evaluations` row (headline figures and the full result JSON, with the keys of `about` added:
// what the figures are of, e.g. a CodiEsp task) in a transaction; returns its id.
std::int64_t record_evaluation(store::Database& db, std::optional<std::int64_t> run_id,
                               const std::string& coder_name, const std::string& dataset_path,
                               const EvalResult& result,
                               const nlohmann::json& about = nlohmann::json::object());

}  // namespace medcode::eval
