// `import hcpcs`: the HCPCS Level II annual file (plain, .gz, or CMS's zip) as one release; modifiers are
// stored apart from codes (kind 'modifier').
#include <fmt/ranges.h>

#include <algorithm>
#include <array>

#include "medcode/codes/hcpcs_parser.h"
#include "medcode/codes/import.h"
#include "medcode/codes/import_inputs.h"
#include "medcode/codes/release_writer.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/progress.h"

namespace medcode::codes {

namespace {

// Level II code ranges by first character, as CMS groups them.
constexpr std::array<std::pair<char, const char*>, 17> k_sections = {{
    {'A', "Transportation services, medical and surgical supplies, administrative and miscellaneous"},
    {'B', "Enteral and parenteral therapy"},
    {'C', "Outpatient prospective payment system"},
    {'D', "Dental procedures"},
    {'E', "Durable medical equipment"},
    {'G', "Procedures and professional services (temporary)"},
    {'H', "Alcohol and drug abuse treatment services"},
    {'J', "Drugs administered other than oral method, chemotherapy drugs"},
    {'K', "Durable medical equipment for Medicare administrative contractors (temporary)"},
    {'L', "Orthotic and prosthetic procedures and devices"},
    {'M', "Medical services"},
    {'P', "Pathology and laboratory services"},
    {'Q', "Miscellaneous services (temporary)"},
    {'R', "Diagnostic radiology services"},
    {'S', "Temporary national codes (non-Medicare)"},
    {'T', "National codes established for state Medicaid agencies"},
    {'V', "Vision and hearing services"},
}};

const char* section_description(char letter) {
  for (const auto& [key, description] : k_sections) {
    if (key == letter) return description;
  }
  return nullptr;
}

// A code is billable in the release year unless it was terminated before the year began: the annual file
// still lists codes discontinued in earlier years (termination date 12/31 of a past year), and a code whose
// termination falls within the year may be billed until then.
bool in_force(const HcpcsEntry& entry, int year) {
  return entry.termination_date.empty() || entry.termination_date >= std::to_string(year) + "-01-01";
}

// Codes have no parent (HCPCS Level II is flat); their chapter is the letter range. Modifiers are not billed
// on their own, so they are never billable.
CodeRow code_row(const HcpcsEntry& entry, int year) {
  CodeRow row;
  row.code = entry.code;
  row.kind = entry.modifier ? "modifier" : "code";
  row.description = entry.description.empty() ? entry.short_description : entry.description;
  if (!entry.short_description.empty()) row.short_description = entry.short_description;
  row.billable = !entry.modifier && in_force(entry, year);
  if (!entry.modifier && section_description(entry.code[0])) row.chapter = std::string(1, entry.code[0]);
  row.attributes = entry.attributes;
  return row;
}

// The first warnings of a file that bends the layout, then how many more: a badly broken file must not bury
// the log.
constexpr std::size_t k_max_listed_warnings = 20;

void add_parse_warnings(ImportSummary& summary, const HcpcsAnnualFile& annual, std::string_view source) {
  std::size_t n_listed = std::min(annual.warnings.size(), k_max_listed_warnings);
  summary.warnings.insert(summary.warnings.end(), annual.warnings.begin(),
                          annual.warnings.begin() + static_cast<std::ptrdiff_t>(n_listed));
  if (annual.warnings.size() > n_listed) {
    summary.warnings.push_back(fmt::format(
        "{}: ... and {} more ({} fields kept empty and {} records longer than the layout in all; --strict "
        "stops at the first)",
        source, annual.warnings.size() - n_listed, annual.n_fields_dropped, annual.n_records_too_long));
  }
  if (annual.n_fields_dropped > 0) summary.counters["fields_dropped"] = annual.n_fields_dropped;
  if (annual.n_records_too_long > 0) summary.counters["records_too_long"] = annual.n_records_too_long;
}

// The member's name first: CMS's zip is named for the year too, but the record file says it more surely.
int choose_year(const ImportOptions& options, int resolved_year, const RecognisedInput& annual) {
  if (options.year) return *options.year;
  if (resolved_year > 0) return resolved_year;
  if (auto year = year_in_file_name(annual.input.name)) return *year;
  if (auto year = year_in_file_name(annual.path)) return *year;
  fail(ExitCode::usage, "cannot tell the HCPCS release year from the name of {}; pass --year",
       annual.input.name);
}

}  // namespace

ImportSummary import_hcpcs(store::Database& db, const ImportOptions& options) {
  int resolved_year = 0;
  std::vector<std::filesystem::path> paths = resolve_import_paths(db, System::hcpcs, options, resolved_year);
  util::report(options.progress, "read files", 0, paths.size());
  std::vector<RecognisedInput> inputs =
      read_recognised_inputs(paths, looks_like_hcpcs_annual_file, "an HCPCS annual fixed-width file");
  if (inputs.size() != 1) {
    std::vector<std::string> names;
    for (const auto& recognised : inputs) names.push_back(recognised.input.name);
    fail(ExitCode::bad_input, "expected one HCPCS annual file, found {}: {}", inputs.size(),
         fmt::join(names, ", "));
  }
  const RecognisedInput& annual = inputs.front();
  util::report(options.progress, "parse annual file", 0, 0);
  HcpcsAnnualFile parsed =
      parse_hcpcs_annual_file(annual.input.content, annual.input.name, {.strict = options.strict});
  const std::vector<HcpcsEntry>& entries = parsed.entries;

  ImportSummary summary;
  summary.system = System::hcpcs;
  summary.year = choose_year(options, resolved_year, annual);
  store::Transaction transaction(db);
  ReleaseWriter writer(db, System::hcpcs, summary.year, options.run_id,
                       describe_sources({{"annual", annual.path}}));
  for (const auto& [letter, description] : k_sections) {
    std::string key(1, letter);
    writer.add_group({"chapter", key, std::nullopt, description, key + "0000", key + "9999"});
  }
  std::int64_t n_modifiers = 0;
  std::int64_t n_terminated = 0;
  for (const HcpcsEntry& entry : entries) {
    writer.add_code(code_row(entry, summary.year));
    n_modifiers += entry.modifier;
    n_terminated += !entry.modifier && !in_force(entry, summary.year);
  }
  util::report(options.progress, "write codes", entries.size(), entries.size());
  writer.finish();
  transaction.commit();

  summary.release_id = writer.release_id();
  summary.n_codes = writer.n_codes();
  summary.n_billable = writer.n_billable();
  summary.counters["modifiers"] = n_modifiers;
  summary.counters["terminated"] = n_terminated;
  add_parse_warnings(summary, parsed, annual.input.name);
  return summary;
}

}  // namespace medcode::codes
