// The code sets of the GEMs: their names, the directions between them and the stored form of their codes.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "medcode/codes/code_system.h"
#include "medcode/codes/gem.h"

namespace medcode::codes {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view text, std::size_t min_length, std::size_t max_length) {
  return text.size() >= min_length && text.size() <= max_length &&
         std::all_of(text.begin(), text.end(), is_digit);
}

// Upper case with white space and dots removed: ICD-9 codes are written "413.9" or "4139", "00.66" or "0066".
std::string compact(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '.' || std::isspace(static_cast<unsigned char>(c))) continue;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

// Diagnoses: 001-999 with up to two more digits, V01-V91 with up to two, E000-E999 with up to one.
bool is_icd9cm_code(std::string_view code) {
  if (code.empty()) return false;
  if (code[0] == 'V') return all_digits(code.substr(1), 2, 4);
  if (code[0] == 'E') return all_digits(code.substr(1), 3, 4);
  return all_digits(code, 3, 5);
}

// Procedures: a two-digit category and one or two more digits (categories alone are not codes).
bool is_icd9pcs_code(std::string_view code) { return all_digits(code, 3, 4); }

}  // namespace

std::string_view gem_code_set_name(GemCodeSet set) {
  switch (set) {
    case GemCodeSet::icd9cm:
      return "icd9cm";
    case GemCodeSet::icd9pcs:
      return "icd9pcs";
    case GemCodeSet::icd10cm:
      return "icd10cm";
    case GemCodeSet::icd10pcs:
      return "icd10pcs";
  }
  return "?";
}

std::string_view gem_code_set_display_name(GemCodeSet set) {
  switch (set) {
    case GemCodeSet::icd9cm:
      return "ICD-9-CM";
    case GemCodeSet::icd9pcs:
      return "ICD-9-CM procedure";
    case GemCodeSet::icd10cm:
      return "ICD-10-CM";
    case GemCodeSet::icd10pcs:
      return "ICD-10-PCS";
  }
  return "?";
}

std::optional<std::string> gem_code(GemCodeSet set, std::string_view text) {
  switch (set) {
    case GemCodeSet::icd9cm: {
      std::string code = compact(text);
      return is_icd9cm_code(code) ? std::optional(code) : std::nullopt;
    }
    case GemCodeSet::icd9pcs: {
      std::string code = compact(text);
      return is_icd9pcs_code(code) ? std::optional(code) : std::nullopt;
    }
    case GemCodeSet::icd10cm:
      return canonical_code(System::icd10cm, text);
    case GemCodeSet::icd10pcs:
      return canonical_code(System::icd10pcs, text);
  }
  return std::nullopt;
}

std::string gem_direction_name(GemDirection direction) {
  return fmt::format("{}_to_{}", gem_code_set_name(direction.source), gem_code_set_name(direction.target));
}

std::string gem_direction_display_name(GemDirection direction) {
  return fmt::format("{} → {}", gem_code_set_display_name(direction.source),
                     gem_code_set_display_name(direction.target));
}

}  // namespace medcode::codes
