// Supporting lines by shared description words, with the coder's evidence spans weighing most.
#include "medcode/serve/support_lines.h"

#include <algorithm>
#include <set>

namespace medcode::serve {

namespace {

bool blank(std::string_view line) { return line.find_first_not_of(" \t\r\f") == std::string_view::npos; }

void add_lines(std::string_view text, std::size_t offset, std::optional<int> page, std::vector<TextLine>& out) {
  int number = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++number;
    std::string_view line = text.substr(start, end - start);
    if (!blank(line)) {
      std::size_t trimmed = line.size();
      while (trimmed > 0 && (line[trimmed - 1] == '\r' || line[trimmed - 1] == ' ')) --trimmed;
      out.push_back({offset + start, offset + start + trimmed, page, number});
    }
    if (end == text.size()) break;
    start = end + 1;
  }
}

}  // namespace

std::vector<TextLine> split_lines(std::string_view text) {
  std::vector<TextLine> lines;
  add_lines(text, 0, std::nullopt, lines);
  return lines;
}

std::vector<TextLine> split_page_lines(const std::vector<std::string>& pages) {
  std::vector<TextLine> lines;
  std::size_t offset = 0;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    add_lines(pages[i], offset, static_cast<int>(i + 1), lines);
    offset += pages[i].size() + 2;  // the "\n\n" between pages
  }
  return lines;
}

std::vector<SupportLine> support_lines(std::string_view text, const std::vector<TextLine>& lines,
                                       const eval::RankedCode& code, std::string_view description,
                                       std::size_t limit) {
  std::vector<std::string> wanted_terms = eval::bm25_terms(description);
  std::set<std::string> wanted(wanted_terms.begin(), wanted_terms.end());
  std::vector<SupportLine> scored;
  for (const TextLine& line : lines) {
    std::string_view words = text.substr(line.begin, line.end - line.begin);
    SupportLine candidate{line, std::string(words), 0, {}};
    std::set<std::string> seen;
    for (const std::string& term : eval::bm25_terms(words)) {
      if (wanted.count(term) && seen.insert(term).second) candidate.terms.push_back(term);
    }
    // Each shared word counts, longer words a little more (they are rarer: "hyperglycemia" over "type").
    for (const std::string& term : candidate.terms) candidate.score += 1.0 + std::min<double>(term.size(), 12) / 12;
    // Words the coder itself pointed at outweigh any number of shared description words.
    bool pointed_at = std::any_of(code.evidence.begin(), code.evidence.end(), [&](const eval::Evidence& span) {
      return span.begin < line.end && span.end > line.begin;
    });
    if (pointed_at) candidate.score += 10;
    if (candidate.score > 0) scored.push_back(std::move(candidate));
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const SupportLine& a, const SupportLine& b) { return a.score > b.score; });
  if (scored.size() > limit) scored.resize(limit);
  return scored;
}

}  // namespace medcode::serve
