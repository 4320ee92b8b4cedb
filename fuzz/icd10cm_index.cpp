// Fuzzes the ICD-10-CM Alphabetic Index XML reader (codes/icd10cm_index.h).
#include <string>

#include "harness.h"
#include "medcode/codes/icd10cm_index.h"

namespace {

constexpr std::string_view k_source = "icd10cm_index_2023.xml";

// What codes/alphabetic_index.h promises of every index: depth first, parents before children.
void check_index(const medcode::codes::Index& index) {
  using medcode::fuzz::check;
  check(!index.terms.empty(), "an index that parses has terms");
  for (std::size_t i = 0; i < index.terms.size(); ++i) {
    const auto& term = index.terms[i];
    check(term.parent < static_cast<int>(i), "a term's parent comes before it");
    check(term.parent < 0 ? term.level == 0 : term.level == index.terms[term.parent].level + 1,
          "a term is one level below its parent");
    check(!term.title.empty(), "every ICD-10-CM index term has a title");
    check(!term.code || !term.code->empty(), "a code is not empty");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string xml(medcode::fuzz::as_text(data, size));  // the reader parses in place
  medcode::fuzz::read_or_reject(k_source,
                                [&] { check_index(medcode::codes::parse_icd10cm_index(xml, k_source)); });
  return 0;
}
