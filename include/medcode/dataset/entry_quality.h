// The quality of a dataset entry: the mean of its round-trip scores (`medcode score`), over every coder that
// scored it or by one coder. The export's golden set and the tasks that work on golden entries read it alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "medcode/store/database.h"

namespace medcode::dataset {

struct CoderScore {
  std::string coder;
  double score = 0;
  std::string answer;  // JSON array of {"code", "score"}, best first
};
using ScoresByEntry = std::unordered_map<std::int64_t, std::vector<CoderScore>>;

// The scores of every entry (of `task` when given), by `coder` when given, in coder order per entry.
ScoresByEntry load_entry_scores(store::Database& db, const std::optional<std::string>& task,
                                const std::optional<std::string>& coder);

// The mean score, or nullopt for an entry without scores (which is never golden).
std::optional<double> quality_of(const std::vector<CoderScore>* scores);

// quality >= min_quality, allowing for the rounding of a mean: 0.6, 0.7, 0.8 average to 0.69999...
bool is_golden(std::optional<double> quality, double min_quality);

}  // namespace medcode::dataset
