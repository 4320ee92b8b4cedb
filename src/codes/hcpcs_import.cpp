// `import hcpcs`: the HCPCS Level II annual file (plain, .gz, or CMS's zip) as one release; modifiers are
// stored apart from codes (kind 'modifier').
#include <array>

#include "medcode/codes/hcpcs_parser.h"
#include "medcode/codes/import.h"
#include "medcode/codes/import_inputs.h"
#include "medcode/codes/release_writer.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"

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

// A code is billable in the release year unless it was terminated before the year began.
bool in_force(const HcpcsEntry& entry, int year) {
  return entry.termination_date.empty() || entry.termination_date >= std::to_string(year) + "-01-01";
}

int choose_year(const ImportOptions& options, int resolved_year, const std::vector<std::filesystem::path>& paths,
                const std::vector<util::Input>& inputs) {
  if (options.year) return *options.year;
  if (resolved_year > 0) return resolved_year;
  for (const auto& input : inputs) {
    if (auto year = year_in_file_name(input.name)) return *year;
  }
  for (const auto& path : paths) {
    if (auto year = year_in_file_name(path)) return *year;
  }
  fail(ExitCode::usage, "cannot tell the HCPCS release year from the file names; pass --year");
}

}  // namespace

ImportSummary import_hcpcs(store::Database& db, const ImportOptions& options) {
  int resolved_year = 0;
  std::vector<std::filesystem::path> paths = resolve_import_paths(db, System::hcpcs, options, resolved_year);
  std::vector<util::Input> inputs =
      read_recognised_inputs(paths, looks_like_hcpcs_annual_file, "an HCPCS annual fixed-width file");
  if (inputs.size() != 1) {
    fail(ExitCode::bad_input, "expected one HCPCS annual file among the inputs, found {}", inputs.size());
  }
  std::vector<HcpcsEntry> entries = parse_hcpcs_annual_file(inputs.front().content, inputs.front().name);

  ImportSummary summary;
  summary.system = System::hcpcs;
  summary.year = choose_year(options, resolved_year, paths, inputs);
  std::vector<std::pair<std::string, std::filesystem::path>> sources;
  for (const auto& path : paths) sources.emplace_back("annual", path);

  store::Transaction transaction(db);
  ReleaseWriter writer(db, System::hcpcs, summary.year, options.run_id, describe_sources(sources));
  for (const auto& [letter, description] : k_sections) {
    std::string key(1, letter);
    writer.add_group({"chapter", key, std::nullopt, description, key + "0000", key + "9999"});
  }
  std::int64_t n_modifiers = 0;
  std::int64_t n_terminated = 0;
  for (const HcpcsEntry& entry : entries) {
    CodeRow row;
    row.code = entry.code;
    row.kind = entry.modifier ? "modifier" : "code";
    row.description = entry.description.empty() ? entry.short_description : entry.description;
    if (!entry.short_description.empty()) row.short_description = entry.short_description;
    row.billable = !entry.modifier && in_force(entry, summary.year);
    if (!entry.modifier && section_description(entry.code[0])) row.chapter = std::string(1, entry.code[0]);
    row.attributes = entry.attributes;
    writer.add_code(row);
    n_modifiers += entry.modifier;
    n_terminated += !entry.modifier && !row.billable;
  }
  writer.finish();
  transaction.commit();

  summary.release_id = writer.release_id();
  summary.n_codes = writer.n_codes();
  summary.n_billable = writer.n_billable();
  summary.counters["modifiers"] = n_modifiers;
  summary.counters["terminated"] = n_terminated;
  return summary;
}

}  // namespace medcode::codes
