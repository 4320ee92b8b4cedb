// Writes a release's codes as plain CODE<TAB>DESCRIPTION lines, the form most tools and models take.
#pragma once

#include <cstdint>
#include <ostream>

#include "medcode/codes/catalog.h"
#include "medcode/store/database.h"

namespace medcode::codes {

struct ExportOptions {
  bool billable_only = false;
  bool include_modifiers = false;  // HCPCS modifiers are not codes: left out unless asked for
};

// Streams one line per code of `release`, in canonical form and code order, to `out`; returns the number of
// lines. Tabs and line breaks inside a description are written as spaces so that every line has two fields.
std::int64_t export_codes(store::Database& db, const ReleaseInfo& release, const ExportOptions& options,
                          std::ostream& out);

}  // namespace medcode::codes
