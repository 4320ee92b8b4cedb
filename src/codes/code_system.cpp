// Names of the code systems and the rules of their code shapes.
#include "medcode/codes/code_system.h"

#include <cctype>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_upper_alpha(char c) { return c >= 'A' && c <= 'Z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Upper case with white space and dots removed.
std::string compact(std::string_view text) {
  std::string out;
  for (char c : util::trim(text)) {
    if (c == '.' || c == ' ') continue;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

std::optional<std::string> icd10cm_problem(std::string_view raw, const std::string& code) {
  std::string_view trimmed = util::trim(raw);
  std::size_t dot = trimmed.find('.');
  if (dot != std::string_view::npos && dot != 3) return "the dot must follow the third character";
  if (code.size() < 3 || code.size() > 7) return "ICD-10-CM codes have 3 to 7 characters";
  if (!is_upper_alpha(code[0])) return "ICD-10-CM codes start with a letter";
  if (!is_digit(code[1])) return "the second character of an ICD-10-CM code is a digit";
  for (char c : code) {
    if (!is_alnum(c)) return "ICD-10-CM codes hold only letters and digits";
  }
  return std::nullopt;
}

std::optional<std::string> icd10pcs_problem(std::string_view raw, const std::string& code) {
  if (raw.find('.') != std::string_view::npos) return "ICD-10-PCS codes have no dot";
  if (code.size() != 7) return "ICD-10-PCS codes have exactly 7 characters";
  for (char c : code) {
    if (!is_alnum(c)) return "ICD-10-PCS codes hold only letters and digits";
    if (c == 'I' || c == 'O') return "ICD-10-PCS codes never use the letters I or O";
  }
  return std::nullopt;
}

std::optional<std::string> hcpcs_problem(std::string_view raw, const std::string& code) {
  if (raw.find('.') != std::string_view::npos) return "HCPCS codes have no dot";
  if (code.size() == 2) {
    for (char c : code) {
      if (!is_alnum(c)) return "HCPCS modifiers hold only letters and digits";
    }
    return std::nullopt;  // a modifier
  }
  if (code.size() != 5) return "HCPCS codes have 5 characters (modifiers 2)";
  for (char c : code) {
    if (!is_alnum(c)) return "HCPCS codes hold only letters and digits";
  }
  for (std::size_t i = 1; i < 5; ++i) {
    if (!is_digit(code[i])) return "HCPCS codes are a letter or digit followed by four digits";
  }
  return std::nullopt;
}

// CPT codes: Category I five digits; Category II (F), Category III (T), Proprietary Laboratory Analyses (U)
// and Multianalyte Assays with Algorithmic Analyses (M) four digits and the letter. Modifiers have two
// characters, digits ("25") or not ("P1", the anaesthesia physical status modifiers).
std::optional<std::string> cpt_problem(std::string_view raw, const std::string& code) {
  if (raw.find('.') != std::string_view::npos) return "CPT codes have no dot";
  if (code.size() == 2) {
    for (char c : code) {
      if (!is_alnum(c)) return "CPT modifiers hold only letters and digits";
    }
    return std::nullopt;  // a modifier
  }
  if (code.size() != 5) return "CPT codes have 5 characters (modifiers 2)";
  for (std::size_t i = 0; i < 4; ++i) {
    if (!is_digit(code[i])) return "CPT codes are four digits followed by a digit or F, T, U or M";
  }
  char last = code[4];
  if (!is_digit(last) && last != 'F' && last != 'T' && last != 'U' && last != 'M')
    return "CPT codes are four digits followed by a digit or F, T, U or M";
  return std::nullopt;
}

}  // namespace

std::string_view system_name(System system) {
  switch (system) {
    case System::icd10cm: return "icd10cm";
    case System::icd10pcs: return "icd10pcs";
    case System::hcpcs: return "hcpcs";
    case System::cpt: return "cpt";
  }
  return "?";
}

std::string_view system_display_name(System system) {
  switch (system) {
    case System::icd10cm: return "ICD-10-CM";
    case System::icd10pcs: return "ICD-10-PCS";
    case System::hcpcs: return "HCPCS Level II";
    case System::cpt: return "CPT";
  }
  return "?";
}

std::optional<System> parse_system(std::string_view text) {
  std::string key;
  for (char c : util::trim(text)) {
    if (c != '-' && c != '_' && c != ' ') key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (key == "icd10cm") return System::icd10cm;
  if (key == "icd10pcs") return System::icd10pcs;
  if (key == "hcpcs" || key == "hcpcs2" || key == "hcpcsii" || key == "hcpcslevelii") return System::hcpcs;
  if (key == "cpt" || key == "cpt4" || key == "hcpcs1" || key == "hcpcsleveli") return System::cpt;
  return std::nullopt;
}

System require_system(std::string_view text) {
  if (auto system = parse_system(text)) return *system;
  fail(ExitCode::usage, "unknown code system '{}' (expected icd10cm, icd10pcs, hcpcs or cpt)", text);
}

std::optional<std::string> format_problem(System system, std::string_view text) {
  std::string code = compact(text);
  if (code.empty()) return "empty code";
  switch (system) {
    case System::icd10cm: return icd10cm_problem(text, code);
    case System::icd10pcs: return icd10pcs_problem(text, code);
    case System::hcpcs: return hcpcs_problem(text, code);
    case System::cpt: return cpt_problem(text, code);
  }
  return "unknown system";
}

std::optional<std::string> canonical_code(System system, std::string_view text) {
  if (format_problem(system, text)) return std::nullopt;
  std::string code = compact(text);
  if (system == System::icd10cm && code.size() > 3) code.insert(3, ".");
  return code;
}

std::optional<System> guess_system(std::string_view text) {
  std::string code = compact(text);
  bool has_dot = util::trim(text).find('.') != std::string_view::npos;
  // Before HCPCS, whose shape also takes five digits: CMS's Level II codes all start with a letter.
  if (!has_dot && code.size() == 5 && !format_problem(System::cpt, text)) return System::cpt;
  if (!has_dot && !format_problem(System::hcpcs, text) && code.size() == 5 && !is_digit(code[0]))
    return System::hcpcs;
  if (!has_dot && code.size() == 7 && is_digit(code[0]) && !format_problem(System::icd10pcs, text))
    return System::icd10pcs;
  if (!format_problem(System::icd10cm, text)) return System::icd10cm;
  if (!format_problem(System::icd10pcs, text)) return System::icd10pcs;
  return std::nullopt;
}

}  // namespace medcode::codes
