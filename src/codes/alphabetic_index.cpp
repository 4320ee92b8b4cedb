// Writing a parsed Alphabetic Index into a release: each term's parent becomes the id of its parent's row.
#include "medcode/codes/alphabetic_index.h"

#include <cstdint>

#include "medcode/codes/release_writer.h"

namespace medcode::codes {

std::size_t write_index_terms(ReleaseWriter& writer, Index& index) {
  std::vector<std::int64_t> ids(index.terms.size());
  IndexTermRow row;
  for (std::size_t i = 0; i < index.terms.size(); ++i) {
    IndexTerm& term = index.terms[i];
    row.parent_id =
        term.parent >= 0 ? std::optional(ids[static_cast<std::size_t>(term.parent)]) : std::nullopt;
    row.level = term.level;
    row.title = std::move(term.title);
    row.path = std::move(term.path);
    row.code = std::move(term.code);
    row.code_incomplete = term.code_incomplete;
    row.manifestation_code = std::move(term.manifestation_code);
    row.see = std::move(term.see);
    row.see_also = std::move(term.see_also);
    ids[i] = writer.add_index_term(row);
  }
  return index.terms.size();
}

}  // namespace medcode::codes
