// The lines of a note that most support a code, as a coder reading the note would point at them: the
// coder's own evidence first (the index coder's matched words), then the lines sharing the most of the
// code's description words. Works for every coder, including those that point at no words (bm25, a model).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/eval/coder.h"

namespace medcode::serve {

// A line of the coded text: its byte range, and where it was (page 1.. for a PDF, line 1.. in its page).
struct TextLine {
  std::size_t begin = 0;
  std::size_t end = 0;  // excludes the newline
  std::optional<int> page;
  int number = 0;
};

// The lines of `text`, numbered from 1; blank lines are kept out but counted.
std::vector<TextLine> split_lines(std::string_view text);
// The lines of pages joined with "\n\n" (as pdf::PdfText::joined() joins them), numbered within each page.
std::vector<TextLine> split_page_lines(const std::vector<std::string>& pages);

struct SupportLine {
  TextLine line;
  std::string text;
  double score = 0;
  std::vector<std::string> terms;  // the description's words found on the line (bm25_terms form)
};

// At most `limit` lines that support `code` (described by `description`), best first; lines with
// nothing in common with the code are never returned.
std::vector<SupportLine> support_lines(std::string_view text, const std::vector<TextLine>& lines,
                                       const eval::RankedCode& code, std::string_view description,
                                       std::size_t limit = 2);

}  // namespace medcode::serve
