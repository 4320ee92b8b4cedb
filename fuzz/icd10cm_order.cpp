// Fuzzes the ICD-10-CM order-file and code-descriptions reader (codes/icd10cm_order.h).
#include <algorithm>

#include "harness.h"
#include "medcode/codes/code_system.h"
#include "medcode/codes/icd10cm_order.h"

namespace {

constexpr std::string_view k_source = "icd10cm_order_2023.txt";

void check_order_file(const medcode::codes::OrderFile& file, std::string_view text) {
  using medcode::fuzz::check;
  auto n_lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const auto& entry : file.entries) {
    check(medcode::codes::canonical_code(medcode::codes::System::icd10cm, entry.code) == entry.code,
          "order-file codes are canonical ICD-10-CM codes: '{}'", entry.code);
    check(!entry.description.empty(), "every entry has a description");
    check(entry.line >= 1 && entry.line <= n_lines, "an entry's line is a line of the file: {}", entry.line);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = medcode::fuzz::as_text(data, size);
  (void)medcode::codes::looks_like_icd10cm_order_file(text);
  medcode::fuzz::read_or_reject(
      k_source, [&] { check_order_file(medcode::codes::parse_icd10cm_order_file(text, k_source), text); });
  return 0;
}
