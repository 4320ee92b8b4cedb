// The baselines a trained model is compared with: the most frequent training codes, and BM25 retrieval.
#include <algorithm>
#include <map>

#include "medcode/dataset/evaluation.h"
#include "medcode/util/error.h"

namespace medcode::dataset {

MajorityCoder::MajorityCoder(const std::vector<EvalExample>& train) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& example : train) {
    for (const auto& code : example.gold) ++counts[code];
  }
  for (const auto& [code, count] : counts) m_ranked.push_back({code, static_cast<double>(count)});
  // Stable over the map's code order, so ties go to the smaller code and every run ranks alike.
  std::stable_sort(m_ranked.begin(), m_ranked.end(),
                   [](const RankedCode& a, const RankedCode& b) { return a.score > b.score; });
}

std::vector<RankedCode> MajorityCoder::code(std::string_view /*text*/, std::size_t k) const {
  auto keep = static_cast<std::ptrdiff_t>(std::min(k, m_ranked.size()));
  return {m_ranked.begin(), m_ranked.begin() + keep};
}

std::unique_ptr<Coder> make_baseline_coder(store::Database& db,
                                           const std::optional<codes::ReleaseInfo>& release,
                                           const std::string& name, const std::vector<EvalExample>& train) {
  if (name == "majority") {
    if (train.empty()) fail(ExitCode::bad_input, "--baseline majority: no training examples");
    return std::make_unique<MajorityCoder>(train);
  }
  if (name == "bm25") {
    if (!release) {
      fail(ExitCode::bad_input,
           "--baseline bm25: no ICD-10-CM release in the store; run `medcode import icd10cm` first");
    }
    return make_retrieval_coder(db, *release, name);
  }
  fail(ExitCode::usage, "--baseline {}: unknown baseline (majority, bm25)", name);
}

}  // namespace medcode::dataset
