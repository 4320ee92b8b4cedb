// Reader of the CMS GEM text files: every line checked for three fields and five flag digits, the direction
// told by the codes (or the file name when they fit several), then each code checked against its code set.
// Layout: CMS, "General Equivalence Mappings: Documentation for Technical Users" (see gem.h).
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>

#include "medcode/codes/gem.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

constexpr std::array<GemDirection, 4> k_directions = {k_icd9cm_to_icd10cm, k_icd10cm_to_icd9cm,
                                                      k_icd9pcs_to_icd10pcs, k_icd10pcs_to_icd9pcs};

// A line cut into its fields, flags checked; codes not yet (that needs the direction).
struct RawEntry {
  std::string_view source_code;
  std::string_view target_code;
  std::string_view flags;
  std::size_t line = 0;
};

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    std::size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool is_flags_field(std::string_view flags) {
  return flags.size() == 5 &&
         std::all_of(flags.begin(), flags.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_procedure_set(GemCodeSet set) { return set == GemCodeSet::icd9pcs || set == GemCodeSet::icd10pcs; }

std::string_view no_map_marker(GemCodeSet target) { return is_procedure_set(target) ? "NoPCS" : "NoDx"; }

bool is_any_no_map_marker(std::string_view text) {
  std::string lower = util::to_lower(text);
  return lower == "nodx" || lower == "nopcs";
}

bool is_no_map_marker(std::string_view text, GemCodeSet target) {
  return util::to_lower(text) == util::to_lower(no_map_marker(target));
}

bool fits(GemDirection direction, const RawEntry& raw) {
  return gem_code(direction.source, raw.source_code) &&
         (is_no_map_marker(raw.target_code, direction.target) || gem_code(direction.target, raw.target_code));
}

// Scenario and choice list number the parts of a combination, so they are set exactly when it is.
void check_flags(const RawEntry& raw, std::string_view source) {
  static constexpr std::array<const char*, 3> k_binary = {"approximate", "no map", "combination"};
  for (std::size_t i = 0; i < k_binary.size(); ++i) {
    if (raw.flags[i] != '0' && raw.flags[i] != '1') {
      fail(ExitCode::bad_input, "{}:{}: {} flag (digit {} of '{}') is {}, expected 0 or 1", source, raw.line,
           k_binary[i], i + 1, raw.flags, raw.flags[i]);
    }
  }
  bool combination = raw.flags[2] == '1';
  bool numbered = raw.flags[3] != '0' && raw.flags[4] != '0';
  bool unnumbered = raw.flags[3] == '0' && raw.flags[4] == '0';
  if (combination ? !numbered : !unnumbered) {
    fail(
        ExitCode::bad_input,
        "{}:{}: flags '{}': combination flag {} with scenario {} and choice list {} (a combination entry has "
        "both above 0, any other entry both 0)",
        source, raw.line, raw.flags, raw.flags[2], raw.flags[3], raw.flags[4]);
  }
}

RawEntry read_raw_entry(std::string_view line, std::size_t number, std::string_view source) {
  std::vector<std::string_view> fields = split_fields(line);
  if (fields.size() != 3) {
    fail(ExitCode::bad_input, "{}:{}: expected 3 fields (source code, target code, flags), found {}: '{}'",
         source, number, fields.size(), util::trim(line));
  }
  RawEntry raw{fields[0], fields[1], fields[2], number};
  if (!is_flags_field(raw.flags)) {
    fail(ExitCode::bad_input,
         "{}:{}: flags field '{}' is not five digits (approximate, no map, combination, scenario, choice "
         "list)",
         source, number, raw.flags);
  }
  check_flags(raw, source);
  return raw;
}

// What the file name says, for files whose codes fit several directions.
std::vector<GemDirection> narrow_by_name(const std::vector<GemDirection>& candidates,
                                         std::string_view source) {
  std::string name = util::to_lower(std::filesystem::path(source).filename().string());
  auto has = [&name](std::string_view part) { return name.find(part) != std::string::npos; };
  std::optional<bool> from_icd9;
  if (has("i9i10") || has("i9gem") || has("i9pcs")) from_icd9 = true;
  if (has("i10i9") || has("i10gem") || has("pcsi9")) from_icd9 = false;
  std::optional<bool> procedure;
  if (has("pcs")) {
    procedure = true;
  } else if (has("gem") || has("cm")) {
    procedure = false;
  }
  std::vector<GemDirection> narrowed;
  for (GemDirection direction : candidates) {
    bool direction_from_icd9 =
        direction.source == GemCodeSet::icd9cm || direction.source == GemCodeSet::icd9pcs;
    if (from_icd9 && *from_icd9 != direction_from_icd9) continue;
    if (procedure && *procedure != is_procedure_set(direction.source)) continue;
    narrowed.push_back(direction);
  }
  return narrowed;
}

// The direction most lines fit; a malformed code then fails on its own line rather than hiding the direction.
GemDirection detect_direction(const std::vector<RawEntry>& entries, std::string_view source) {
  std::array<std::size_t, k_directions.size()> n_fitting{};
  for (const RawEntry& raw : entries) {
    for (std::size_t i = 0; i < k_directions.size(); ++i) n_fitting[i] += fits(k_directions[i], raw);
  }
  std::size_t best = *std::max_element(n_fitting.begin(), n_fitting.end());
  if (best == 0) {
    fail(ExitCode::bad_input,
         "{}: no line pairs an ICD-9-CM code with an ICD-10-CM code, or an ICD-9-CM procedure code with an "
         "ICD-10-PCS code, so this is not a GEM file",
         source);
  }
  std::vector<GemDirection> candidates;
  for (std::size_t i = 0; i < k_directions.size(); ++i) {
    if (n_fitting[i] == best) candidates.push_back(k_directions[i]);
  }
  if (candidates.size() == 1) return candidates.front();
  std::vector<GemDirection> narrowed = narrow_by_name(candidates, source);
  if (narrowed.size() == 1) return narrowed.front();
  std::vector<std::string> names;
  for (GemDirection direction : candidates) names.push_back(gem_direction_display_name(direction));
  fail(ExitCode::bad_input,
       "{}: its codes fit {} alike, and its name does not tell which; name it as CMS does (e.g. "
       "2018_I9gem.txt, "
       "2018_I10gem.txt, gem_i9pcs.txt, gem_pcsi9.txt, or with I9I10 / I10I9 and 'pcs' for procedures)",
       source, fmt::join(names, " and "));
}

GemEntry read_entry(const RawEntry& raw, GemDirection direction, std::string_view source) {
  GemEntry entry;
  entry.line = raw.line;
  entry.approximate = raw.flags[0] == '1';
  entry.no_map = raw.flags[1] == '1';
  entry.combination = raw.flags[2] == '1';
  entry.scenario = raw.flags[3] - '0';
  entry.choice_list = raw.flags[4] - '0';
  std::optional<std::string> source_code = gem_code(direction.source, raw.source_code);
  if (!source_code) {
    fail(ExitCode::bad_input, "{}:{}: source code '{}' is not an {} code, as the rest of this {} GEM is",
         source, raw.line, raw.source_code, gem_code_set_display_name(direction.source),
         gem_direction_display_name(direction));
  }
  entry.source_code = std::move(*source_code);
  bool marker = is_any_no_map_marker(raw.target_code);
  if (entry.no_map != marker) {
    fail(ExitCode::bad_input,
         "{}:{}: target code '{}' with no-map flag {} (the no-map flag goes with target {})", source,
         raw.line, raw.target_code, raw.flags[1], no_map_marker(direction.target));
  }
  if (marker && !is_no_map_marker(raw.target_code, direction.target)) {
    fail(ExitCode::bad_input, "{}:{}: target '{}' in an {} GEM, whose no-map target is {}", source, raw.line,
         raw.target_code, gem_direction_display_name(direction), no_map_marker(direction.target));
  }
  if (!marker) {
    entry.target_code = gem_code(direction.target, raw.target_code);
    if (!entry.target_code) {
      fail(ExitCode::bad_input, "{}:{}: target code '{}' is not an {} code, as the rest of this {} GEM is",
           source, raw.line, raw.target_code, gem_code_set_display_name(direction.target),
           gem_direction_display_name(direction));
    }
  }
  return entry;
}

std::string_view first_line(std::string_view text) {
  for (std::string_view line : util::split_lines(text.substr(0, 4096))) {
    if (!util::trim(line).empty()) return line;
  }
  return {};
}

}  // namespace

bool looks_like_gem_file(std::string_view text) {
  std::vector<std::string_view> fields = split_fields(first_line(text));
  if (fields.size() != 3 || !is_flags_field(fields[2])) return false;
  RawEntry raw{fields[0], fields[1], fields[2], 1};
  return std::any_of(k_directions.begin(), k_directions.end(),
                     [&raw](GemDirection direction) { return fits(direction, raw); });
}

GemFile parse_gem_file(std::string_view text, std::string_view source) {
  std::vector<RawEntry> raw_entries;
  raw_entries.reserve(text.size() / 20);
  std::size_t number = 0;
  for (std::string_view line : util::split_lines(text)) {
    ++number;
    if (util::trim(line).empty()) continue;
    raw_entries.push_back(read_raw_entry(line, number, source));
  }
  if (raw_entries.empty()) fail(ExitCode::bad_input, "{}: empty file, no GEM entries", source);
  GemFile file;
  file.direction = detect_direction(raw_entries, source);
  file.entries.reserve(raw_entries.size());
  for (const RawEntry& raw : raw_entries) file.entries.push_back(read_entry(raw, file.direction, source));
  return file;
}

}  // namespace medcode::codes
