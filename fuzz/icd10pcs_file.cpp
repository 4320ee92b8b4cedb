// Fuzzes the ICD-10-PCS codes-file and order-file reader (codes/icd10pcs_parser.h).
#include <algorithm>

#include "harness.h"
#include "medcode/codes/icd10pcs_parser.h"

namespace {

constexpr std::string_view k_source = "icd10pcs_order_2023.txt";

bool is_stored_pcs_character(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'O');
}

void check_pcs_file(const medcode::codes::PcsFile& file) {
  using medcode::fuzz::check;
  for (const auto& entry : file.entries) {
    check(!entry.code.empty() && entry.code.size() <= 7, "a PCS code has 1 to 7 characters: '{}'",
          entry.code);
    check(std::all_of(entry.code.begin(), entry.code.end(), is_stored_pcs_character),
          "a stored PCS code is upper case, of digits and letters other than I and O: '{}'", entry.code);
    check(!entry.billable || entry.code.size() == 7, "a valid PCS code has 7 characters: '{}'", entry.code);
    check(!entry.description.empty(), "every entry has a description");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = medcode::fuzz::as_text(data, size);
  if (medcode::codes::looks_like_icd10pcs_file(text)) (void)medcode::codes::icd10pcs_file_kind(text);
  medcode::fuzz::read_or_reject(k_source,
                                [&] { check_pcs_file(medcode::codes::parse_icd10pcs_file(text, k_source)); });
  return 0;
}
