// `import icd10pcs`: the ICD-10-PCS codes file or order file (plain, .gz or CMS's zip) as one release.
#include <array>

#include "medcode/codes/icd10pcs_parser.h"
#include "medcode/codes/import.h"
#include "medcode/codes/import_inputs.h"
#include "medcode/codes/release_writer.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/progress.h"

namespace medcode::codes {

namespace {

// The first character of a PCS code names its section.
constexpr std::array<std::pair<char, const char*>, 17> k_sections = {{
    {'0', "Medical and Surgical"},
    {'1', "Obstetrics"},
    {'2', "Placement"},
    {'3', "Administration"},
    {'4', "Measurement and Monitoring"},
    {'5', "Extracorporeal or Systemic Assistance and Performance"},
    {'6', "Extracorporeal or Systemic Therapies"},
    {'7', "Osteopathic"},
    {'8', "Other Procedures"},
    {'9', "Chiropractic"},
    {'B', "Imaging"},
    {'C', "Nuclear Medicine"},
    {'D', "Radiation Therapy"},
    {'F', "Physical Rehabilitation and Diagnostic Audiology"},
    {'G', "Mental Health"},
    {'H', "Substance Abuse Treatment"},
    {'X', "New Technology"},
}};

bool known_section(char c) {
  for (const auto& [key, description] : k_sections) {
    if (key == c) return true;
  }
  return false;
}

// With an order file both kinds may be given; the order file has everything the codes file has and more.
const RecognisedInput& choose_input(const std::vector<RecognisedInput>& inputs) {
  if (inputs.empty()) fail(ExitCode::bad_input, "no ICD-10-PCS codes or order file among the inputs");
  for (const auto& recognised : inputs) {
    if (icd10pcs_file_kind(recognised.input.content) == PcsFileKind::order) return recognised;
  }
  return inputs.front();
}

int choose_year(const ImportOptions& options, int resolved_year, const RecognisedInput& chosen) {
  if (options.year) return *options.year;
  if (resolved_year > 0) return resolved_year;
  if (auto year = year_in_file_name(chosen.input.name)) return *year;
  if (auto year = year_in_file_name(chosen.path)) return *year;
  fail(ExitCode::usage, "cannot tell the ICD-10-PCS release year from the name of {}; pass --year",
       chosen.input.name);
}

void write_release(ReleaseWriter& writer, const PcsFile& file, const util::ProgressCallback& progress) {
  for (const auto& [section, description] : k_sections) {
    writer.add_group(
        {"chapter", std::string(1, section), std::nullopt, description, std::nullopt, std::nullopt});
  }
  std::uint64_t done = 0;
  for (const PcsEntry& entry : file.entries) {
    CodeRow row;
    row.code = entry.code;
    if (entry.code.size() > 3) row.parent = entry.code.substr(0, 3);  // the table
    if (known_section(entry.code[0])) row.chapter = std::string(1, entry.code[0]);
    row.description = entry.description;
    if (!entry.short_description.empty()) row.short_description = entry.short_description;
    row.billable = entry.billable;
    writer.add_code(row);
    if (++done % 16384 == 0) util::report(progress, "write codes", done, file.entries.size());
  }
  util::report(progress, "build search index", 0, 0);
  writer.finish();
}

}  // namespace

ImportSummary import_icd10pcs(store::Database& db, const ImportOptions& options) {
  int resolved_year = 0;
  std::vector<std::filesystem::path> paths =
      resolve_import_paths(db, System::icd10pcs, options, resolved_year);
  util::report(options.progress, "read files", 0, paths.size());
  std::vector<RecognisedInput> inputs =
      read_recognised_inputs(paths, looks_like_icd10pcs_file, "an ICD-10-PCS codes or order file");
  const RecognisedInput& chosen = choose_input(inputs);
  util::report(options.progress, "parse", 0, 0);
  PcsFile file = parse_icd10pcs_file(chosen.input.content, chosen.input.name);
  const char* role = file.kind == PcsFileKind::order ? "order" : "codes";

  ImportSummary summary;
  summary.system = System::icd10pcs;
  summary.year = choose_year(options, resolved_year, chosen);
  store::Transaction transaction(db);
  ReleaseWriter writer(db, System::icd10pcs, summary.year, options.run_id,
                       describe_sources({{role, chosen.path}}));
  write_release(writer, file, options.progress);
  transaction.commit();

  summary.release_id = writer.release_id();
  summary.n_codes = writer.n_codes();
  summary.n_billable = writer.n_billable();
  summary.counters["file"] = role;
  if (file.kind == PcsFileKind::order) summary.counters["headers"] = summary.n_codes - summary.n_billable;
  return summary;
}

}  // namespace medcode::codes
