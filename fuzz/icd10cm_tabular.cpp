// Fuzzes the ICD-10-CM Tabular List XML reader (codes/icd10cm_tabular.h).
#include <string>

#include "harness.h"
#include "medcode/codes/code_system.h"
#include "medcode/codes/icd10cm_tabular.h"

namespace {

constexpr std::string_view k_source = "icd10cm_tabular_2023.xml";

void check_tabular(const medcode::codes::Tabular& tabular) {
  using medcode::fuzz::check;
  check(!tabular.codes.empty(), "a tabular that parses has codes");
  for (const auto& code : tabular.codes) {
    check(medcode::codes::canonical_code(medcode::codes::System::icd10cm, code.code) == code.code,
          "tabular codes are canonical ICD-10-CM codes: '{}'", code.code);
    check(!code.description.empty(), "every tabular code has a description: {}", code.code);
    check(!code.seventh_char || code.seventh_char->size() == 1, "a 7th character is one character: {}",
          code.code);
  }
  for (const auto& note : tabular.notes) check(!note.text.empty(), "notes are not empty");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string xml(medcode::fuzz::as_text(data, size));  // the reader parses in place
  medcode::fuzz::read_or_reject(k_source,
                                [&] { check_tabular(medcode::codes::parse_icd10cm_tabular(xml, k_source)); });
  return 0;
}
