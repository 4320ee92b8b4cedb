// Fuzzes the ICD-10-PCS Alphabetic Index XML reader (codes/icd10pcs_index.h).
#include <string>

#include "harness.h"
#include "medcode/codes/icd10pcs_index.h"

namespace {

constexpr std::string_view k_source = "icd10pcs_index_2023.xml";

// What codes/alphabetic_index.h and icd10pcs_index.h promise: parents before children, main terms titled,
// codes of 1 to 7 characters, incomplete below 7.
void check_index(const medcode::codes::Index& index) {
  using medcode::fuzz::check;
  check(!index.terms.empty(), "an index that parses has terms");
  for (std::size_t i = 0; i < index.terms.size(); ++i) {
    const auto& term = index.terms[i];
    check(term.parent < static_cast<int>(i), "a term's parent comes before it");
    check(term.parent < 0 ? term.level == 0 : term.level == index.terms[term.parent].level + 1,
          "a term is one level below its parent");
    check(term.parent >= 0 || !term.title.empty(), "a main term has a title");
    if (term.code) {
      check(!term.code->empty() && term.code->size() <= 7, "a PCS index code has 1 to 7 characters: '{}'",
            *term.code);
      check(term.code_incomplete == (term.code->size() < 7),
            "a code is incomplete exactly when shorter than 7");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string xml(medcode::fuzz::as_text(data, size));  // the reader parses in place
  (void)medcode::codes::looks_like_icd10pcs_index(xml);
  medcode::fuzz::read_or_reject(k_source,
                                [&] { check_index(medcode::codes::parse_icd10pcs_index(xml, k_source)); });
  return 0;
}
