// Fuzzes the GEM reader (codes/gem.h) under the file names CMS gives the four directions, since the name
// decides the direction when the codes fit several.
#include <array>

#include "harness.h"
#include "medcode/codes/gem.h"

namespace {

constexpr std::array<std::string_view, 4> k_sources = {"2018_I9gem.txt", "2018_I10gem.txt", "gem_i9pcs.txt",
                                                       "gem_pcsi9.txt"};

void check_gem_file(const medcode::codes::GemFile& file) {
  using medcode::fuzz::check;
  check(!file.entries.empty(), "a GEM that parses has entries");
  for (const auto& entry : file.entries) {
    check(medcode::codes::gem_code(file.direction.source, entry.source_code) == entry.source_code,
          "a source code is in its stored form: '{}'", entry.source_code);
    check(entry.no_map == !entry.target_code, "a no-map entry, and only one, has no target");
    check(!entry.target_code ||
              medcode::codes::gem_code(file.direction.target, *entry.target_code) == entry.target_code,
          "a target code is in its stored form: '{}'", entry.target_code.value_or(""));
    check(entry.combination ? entry.scenario > 0 && entry.choice_list > 0
                            : entry.scenario == 0 && entry.choice_list == 0,
          "scenario and choice list are set exactly for a combination");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = medcode::fuzz::as_text(data, size);
  (void)medcode::codes::looks_like_gem_file(text);
  for (std::string_view source : k_sources) {
    medcode::fuzz::read_or_reject(source,
                                  [&] { check_gem_file(medcode::codes::parse_gem_file(text, source)); });
  }
  return 0;
}
