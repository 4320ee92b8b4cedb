// `import icd10pcs`: the ICD-10-PCS codes file or order file, and the Alphabetic Index when given (each
// plain, .gz or inside CMS's zip, recognised by content), as one release written in one transaction.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <future>

#include "medcode/codes/icd10pcs_index.h"
#include "medcode/codes/icd10pcs_parser.h"
#include "medcode/codes/import.h"
#include "medcode/codes/import_inputs.h"
#include "medcode/codes/release_writer.h"
#include "medcode/store/bulk_write.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/progress.h"
#include "medcode/util/utf8.h"

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

bool looks_like_codes_file_or_index(std::string_view text) {
  return looks_like_icd10pcs_index(text) || looks_like_icd10pcs_file(text);
}

// The inputs split by kind: codes and order files, and at most one index.
struct Inputs {
  std::vector<RecognisedInput> code_files;
  std::optional<RecognisedInput> index;
};

Inputs split_inputs(std::vector<RecognisedInput> recognised) {
  Inputs inputs;
  for (auto& input : recognised) {
    if (!looks_like_icd10pcs_index(input.input.content)) {
      inputs.code_files.push_back(std::move(input));
    } else if (inputs.index) {
      fail(ExitCode::usage, "two ICD-10-PCS index files given: {} and {}", inputs.index->input.name,
           input.input.name);
    } else {
      inputs.index = std::move(input);
    }
  }
  if (inputs.code_files.empty()) {
    fail(ExitCode::bad_input,
         "no ICD-10-PCS codes or order file among the inputs (a codes or order file is "
         "required; the index alone has no code descriptions)");
  }
  return inputs;
}

// With an order file both kinds may be given; the order file has everything the codes file has and more.
const RecognisedInput& choose_input(const std::vector<RecognisedInput>& inputs) {
  for (const auto& recognised : inputs) {
    if (icd10pcs_file_kind(recognised.input.content) == PcsFileKind::order) return recognised;
  }
  return inputs.front();
}

// The index states its year (<version>); the codes and order files only in their names.
int choose_year(const ImportOptions& options, int resolved_year, const RecognisedInput& chosen,
                const RecognisedInput* index, std::optional<int> index_year) {
  if (options.year && index_year && *options.year != *index_year) {
    fail(ExitCode::bad_input, "{}: the index is for {} but --year {} was given", index->input.name,
         *index_year, *options.year);
  }
  if (options.year) return *options.year;
  if (index_year) return *index_year;
  if (resolved_year > 0) return resolved_year;
  if (auto year = year_in_file_name(chosen.input.name)) return *year;
  if (auto year = year_in_file_name(chosen.path)) return *year;
  fail(ExitCode::usage, "cannot tell the ICD-10-PCS release year from the name of {}; pass --year",
       chosen.input.name);
}

// Index terms are written before the codes, so that each code's row is written once, with the index paths
// that lead to it among its search terms.
std::size_t write_release(ReleaseWriter& writer, const PcsFile& file, std::optional<Index>& index,
                          const util::ProgressCallback& progress) {
  std::size_t n_terms = 0;
  if (index) {
    util::report(progress, "write index terms", 0, index->terms.size());
    n_terms = write_index_terms(writer, *index);
  }
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
  return n_terms;
}

}  // namespace

ImportSummary import_icd10pcs(store::Database& db, const ImportOptions& options) {
  auto started_at = std::chrono::steady_clock::now();
  int resolved_year = 0;
  std::vector<std::filesystem::path> paths =
      resolve_import_paths(db, System::icd10pcs, options, resolved_year);
  util::report(options.progress, "read files", 0, paths.size());
  Inputs inputs = split_inputs(read_recognised_inputs(paths, looks_like_codes_file_or_index,
                                                      "an ICD-10-PCS codes file, order file or index XML"));
  // The index is parsed on another thread while the codes file is parsed.
  std::future<Index> pending_index;
  std::size_t replaced = 0;
  if (inputs.index) {
    util::Input& input = inputs.index->input;
    replaced = util::decode_xml_text(input.content, input.name, options.lossy);
    pending_index =
        std::async(std::launch::async, [&input] { return parse_icd10pcs_index(input.content, input.name); });
  }
  const RecognisedInput& chosen = choose_input(inputs.code_files);
  util::report(options.progress, "parse", 0, 0);
  PcsFile file = parse_icd10pcs_file(chosen.input.content, chosen.input.name);
  const char* role = file.kind == PcsFileKind::order ? "order" : "codes";
  std::optional<Index> index;
  if (pending_index.valid()) index = pending_index.get();

  ImportSummary summary;
  summary.system = System::icd10pcs;
  summary.year = choose_year(options, resolved_year, chosen, inputs.index ? &*inputs.index : nullptr,
                             index ? index->year : std::nullopt);
  std::vector<std::pair<std::string, std::filesystem::path>> sources = {{role, chosen.path}};
  if (inputs.index) sources.emplace_back("index", inputs.index->path);

  auto parsed_at = std::chrono::steady_clock::now();
  store::BulkWrite bulk(db);  // synced once, at the end
  store::Transaction transaction(db);
  ReleaseWriter writer(db, System::icd10pcs, summary.year, options.run_id, describe_sources(sources));
  std::size_t n_terms = write_release(writer, file, index, options.progress);
  transaction.commit();
  bulk.sync();
  spdlog::debug("import icd10pcs: read and parsed in {:.3f} s, written in {:.3f} s",
                std::chrono::duration<double>(parsed_at - started_at).count(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - parsed_at).count());

  summary.release_id = writer.release_id();
  summary.n_codes = writer.n_codes();
  summary.n_billable = writer.n_billable();
  summary.counters["file"] = role;
  if (file.kind == PcsFileKind::order) summary.counters["headers"] = summary.n_codes - summary.n_billable;
  if (inputs.index) summary.counters["index_terms"] = n_terms;
  if (replaced > 0) {
    summary.counters["replaced_utf8"] = replaced;
    summary.warnings.push_back(fmt::format("{}: {} invalid UTF-8 sequences replaced with U+FFFD",
                                           inputs.index->input.name, replaced));
  }
  return summary;
}

}  // namespace medcode::codes
