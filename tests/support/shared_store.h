// Stores imported once per build of medcode and shared by end-to-end tests that only read them.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace medcode::testing {

// A store holding what `medcode import <import_args>` writes, built on first use by the current medcode
// binary and kept in the build's test cache (rebuilt when the binary changes). Safe under parallel ctest: the
// first process builds it under a lock and renames it into place. Tests must not write to it.
std::filesystem::path shared_store(const std::string& name, const std::vector<std::string>& import_args);

// The same, built by several imports in order (`medcode import <args>` for each).
std::filesystem::path shared_store(const std::string& name,
                                   const std::vector<std::vector<std::string>>& imports);

// The ICD-10-CM FY2023 tabular and index from ../shared/data.
std::filesystem::path icd10cm_2023_store();

// The MIMIC-IV demo (hosp/, icu/) from ../shared/data, then the note fixtures (MIMIC-IV-Note layout).
std::filesystem::path mimic_iv_demo_notes_store();

}  // namespace medcode::testing
