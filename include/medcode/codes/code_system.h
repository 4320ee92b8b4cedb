// Code systems and the canonical form of their codes (ICD-10-CM dotted, ICD-10-PCS, HCPCS and CPT plain).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace medcode::codes {

// CPT (HCPCS Level I) is the AMA's and licensed: medcode ships none of it, users import their own files.
enum class System { icd10cm, icd10pcs, hcpcs, cpt };

// Every system, in the order lists and help texts name them.
inline constexpr System k_all_systems[] = {System::icd10cm, System::icd10pcs, System::hcpcs, System::cpt};

std::string_view system_name(System system);            // "icd10cm"
std::string_view system_display_name(System system);    // "ICD-10-CM"
// Accepts "icd10cm", "ICD-10-CM", "icd-10-cm", "cpt4", "hcpcs-level-i", ...; nullopt when unknown.
std::optional<System> parse_system(std::string_view text);
// As parse_system, but throws Error(usage) naming the accepted values.
System require_system(std::string_view text);

// Canonical form of a code written in any common form ("e119", "E11.9", " E11.9 "): upper case, no
// spaces, a dot after the third character for ICD-10-CM codes longer than three characters, no dot for
// ICD-10-PCS, HCPCS and CPT. Returns nullopt when the text cannot be a code of that system (wrong length or
// characters); it does not check that the code exists.
std::optional<std::string> canonical_code(System system, std::string_view text);

// Why `text` is not well formed for `system`, or nullopt when it is.
std::optional<std::string> format_problem(System system, std::string_view text);

// Guesses the system from the shape of a code: 7 alphanumerics with no dot → ICD-10-PCS, five digits or four
// digits and F, T, U or M → CPT, a letter and four digits → HCPCS, otherwise ICD-10-CM when it fits that
// shape.
std::optional<System> guess_system(std::string_view text);

}  // namespace medcode::codes
