// Writes a release's codes: plain CODE<TAB>DESCRIPTION lines, the form most tools and models take, or a table
// with each code's place in the hierarchy as TSV, CSV (RFC 4180) or JSON Lines.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string_view>

#include "medcode/codes/catalog.h"
#include "medcode/store/database.h"

namespace medcode::codes {

enum class ExportFormat {
  plain,  // CODE<TAB>DESCRIPTION, no header
  tsv,    // header row, then k_export_columns tab separated
  csv,    // header row, then k_export_columns, quoted per RFC 4180, CRLF line ends
  jsonl,  // one JSON object per line with the k_export_columns as keys
};

// The columns of the tsv, csv and jsonl formats, in order.
inline constexpr std::string_view k_export_columns[] = {
    "code",   "description", "short_description",   "billable", "kind",
    "parent", "chapter",     "chapter_description", "section",  "section_description"};

std::string_view export_format_name(ExportFormat format);
// "plain", "tsv", "csv", "jsonl" (any case); nullopt when unknown.
std::optional<ExportFormat> parse_export_format(std::string_view text);

struct ExportOptions {
  bool billable_only = false;
  bool include_modifiers = false;  // HCPCS and CPT modifiers are not codes: left out unless asked for
  ExportFormat format = ExportFormat::plain;
};

// Streams one line per code of `release`, in canonical form and code order, to `out`; returns the number of
// codes (a header row is not counted). In plain and tsv, tabs and line breaks inside a field are written as
// spaces so that every line has its fields; in tsv and csv billable is 1 or 0 and a missing value is empty;
// in jsonl it is false/true and null.
std::int64_t export_codes(store::Database& db, const ReleaseInfo& release, const ExportOptions& options,
                          std::ostream& out);

// As export_codes, into `path` written atomically (a temporary file renamed into place once complete), so
// that a failed export leaves any earlier file as it was.
std::int64_t export_codes_to_file(store::Database& db, const ReleaseInfo& release,
                                  const ExportOptions& options, const std::filesystem::path& path);

}  // namespace medcode::codes
