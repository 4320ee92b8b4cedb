// The majority baseline: the most frequent training codes, whatever the text.
#include <algorithm>
#include <map>

#include "medcode/eval/evaluation.h"

namespace medcode::eval {

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

}  // namespace medcode::eval
