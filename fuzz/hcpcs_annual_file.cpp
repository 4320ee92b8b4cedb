// Fuzzes the HCPCS Level II annual-file reader (codes/hcpcs_parser.h), lenient and strict.
#include "harness.h"
#include "medcode/codes/hcpcs_parser.h"

namespace {

constexpr std::string_view k_source = "HCPC2023_JAN_ANWEB.txt";

void check_annual_file(const medcode::codes::HcpcsAnnualFile& file, bool strict) {
  using medcode::fuzz::check;
  check(!file.entries.empty(), "an annual file that parses has records");
  for (const auto& entry : file.entries) {
    check(entry.code.size() == (entry.modifier ? 2 : 5), "a code has 5 characters, a modifier 2: '{}'",
          entry.code);
    check(!entry.description.empty() || !entry.short_description.empty(), "every entry has a description");
    check(entry.attributes.is_object(), "attributes are an object");
  }
  check(!strict || file.warnings.empty(), "a strict read has no warnings ({} given)", file.warnings.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = medcode::fuzz::as_text(data, size);
  (void)medcode::codes::looks_like_hcpcs_annual_file(text);
  for (bool strict : {false, true}) {
    medcode::fuzz::read_or_reject(k_source, [&] {
      check_annual_file(medcode::codes::parse_hcpcs_annual_file(text, k_source, {.strict = strict}), strict);
    });
  }
  return 0;
}
