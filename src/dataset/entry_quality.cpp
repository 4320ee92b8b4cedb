// An entry's quality from its scores in entry_scores.
#include "medcode/dataset/entry_quality.h"

namespace medcode::dataset {

namespace {

// A mean of several scores can land a rounding error below a threshold it equals.
constexpr double k_quality_tolerance = 1e-9;

}  // namespace

ScoresByEntry load_entry_scores(store::Database& db, const std::optional<std::string>& task,
                                const std::optional<std::string>& coder) {
  store::Statement select = db.prepare(
      "SELECT s.entry_id, s.coder, s.score, s.answer FROM entry_scores s "
      "JOIN dataset_entries e ON e.id = s.entry_id "
      "WHERE (?1 IS NULL OR e.task = ?1) AND (?2 IS NULL OR s.coder = ?2) "
      "ORDER BY s.entry_id, s.coder");
  select.bind_all(task, coder);
  ScoresByEntry scores;
  while (select.step()) {
    scores[select.column_int64(0)].push_back(
        {select.column_text(1), select.column_double(2), select.column_text(3)});
  }
  return scores;
}

std::optional<double> quality_of(const std::vector<CoderScore>* scores) {
  if (!scores || scores->empty()) return std::nullopt;
  double sum = 0;
  for (const CoderScore& score : *scores) sum += score.score;
  return sum / static_cast<double>(scores->size());
}

bool is_golden(std::optional<double> quality, double min_quality) {
  return quality && *quality + k_quality_tolerance >= min_quality;
}

}  // namespace medcode::dataset
