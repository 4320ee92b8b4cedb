// `medcode score`: re-codes each generated entry blind with one or more coders (retrieval or a model through
// the LLM engine), scores the round trip, and checks the dataset's quality (empty or short texts, texts that
// give the code away, duplicates, invalid codes, label distribution, leakage across splits).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "medcode/dataset/quality.h"
#include "medcode/eval/coder.h"
#include "medcode/llm/engine.h"
#include "medcode/llm/model_config.h"
#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::dataset {

enum class MatchKind { exact, ranked, partial, none };
const char* match_name(MatchKind kind);

struct RoundTripScore {
  double score = 0;
  MatchKind match = MatchKind::none;
  std::optional<int> source_rank;  // 1-based
};

// The score of a coder's answer for an entry written for `source_code`: 1.0 when it is first; 0.9 down to
// 0.7 by its rank when it is further down; 0.7 down to 0.5 for a code of the same parent (upper half) or the
// same three-character category (lower half), by the rank of the best such code; otherwise 0.25 for a code
// of the same chapter-letter block and 0 for nothing related. `k` is the answer's length.
RoundTripScore score_answer(const std::string& source_code, const std::optional<std::string>& source_parent,
                            const std::vector<eval::RankedCode>& answer, std::size_t k);

struct ScoreOptions {
  std::vector<std::string> coders = {"bm25"};  // bm25, bm25+terms, llm:<model>, model:<dir>
  std::size_t top_k = 10;
  std::optional<std::string> task;  // only entries of this task
  bool rescore = false;             // score again entries this coder already scored
  std::uint64_t seed = 42;          // of the train/val/test split the leakage check uses
  std::optional<std::int64_t> run_id;
  util::ProgressCallback progress;
  // For llm:<model> coders: where the model is configured, and how the engine runs.
  const llm::ModelRegistry* registry = nullptr;
  std::optional<double> max_cost_usd;  // over every llm coder of the run
  bool use_cache = true;
  std::function<void(const llm::EngineProgress&)> engine_progress;
  std::optional<std::uint64_t> engine_seed;  // fixed retry jitter (tests)
};

struct CoderSummary {
  std::string coder;
  std::int64_t scored = 0;   // by this run
  std::int64_t already = 0;  // scored before, left as they were
  std::int64_t left = 0;     // still unscored: no valid answer, a stopped provider or the budget
  double mean_score = 0;     // over every score of this coder
  std::int64_t exact = 0, ranked = 0, partial = 0, none = 0;
  std::vector<std::int64_t> histogram;  // 10 bins of [0, 1]
  // llm:<model> coders only.
  std::int64_t requests = 0;         // sent, and answered from the ledger
  std::int64_t requests_failed = 0;  // given up after every retry
  std::int64_t items_failed = 0;     // entries with no valid answer after every repair
  std::int64_t invalid_codes = 0;    // dropped from used answers: malformed or not billable in the release
  double cost_usd = 0;
  std::optional<std::string> last_error;
  std::optional<std::string> fatal_error;  // the provider stopped the coder (a bad key, a bad request)
  bool budget_exhausted = false;           // stopped at max_cost_usd
};

struct ScoreSummary {
  std::int64_t entries = 0;
  std::vector<CoderSummary> coders;
  QualityReport quality;
  double seconds = 0;
};
// The summary as --json prints it and the run record keeps it.
nlohmann::json to_json(const QualityReport& quality);
nlohmann::json to_json(const ScoreSummary& summary);

ScoreSummary score_entries(store::Database& db, const ScoreOptions& options);

// Checks the entries (of `task`, when given) without scoring them.
QualityReport check_quality(store::Database& db, const std::optional<std::string>& task, std::uint64_t seed);

}  // namespace medcode::dataset
