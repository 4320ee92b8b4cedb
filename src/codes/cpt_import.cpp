// `import cpt`: the AMA's CPT data files a user licensed (plain, .gz, or the AMA's zip) merged into one
// release: the long descriptor is the description, the short one the short description, medium, consumer
// friendly and clinician descriptors attributes; modifiers are stored apart from codes (kind 'modifier').
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "medcode/codes/cpt_parser.h"
#include "medcode/codes/import.h"
#include "medcode/codes/import_inputs.h"
#include "medcode/codes/release_writer.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/progress.h"

namespace medcode::codes {

namespace {

namespace fs = std::filesystem;

// The CPT code book's sections, by code range: Category I by number (Medicine has two ranges, around
// Evaluation and Management), the other categories by their last character.
struct CptChapter {
  const char* key;
  const char* description;
  const char* first_code;
  const char* last_code;
};

constexpr std::array<CptChapter, 10> k_chapters = {{
    {"evaluation-management", "Evaluation and Management", "99202", "99499"},
    {"anesthesia", "Anesthesia", "00100", "01999"},
    {"surgery", "Surgery", "10004", "69990"},
    {"radiology", "Radiology", "70010", "79999"},
    {"pathology-laboratory", "Pathology and Laboratory", "80047", "89398"},
    {"medicine", "Medicine", "90281", "99607"},
    {"category-ii", "Category II performance measurement codes", "0001F", "9999F"},
    {"category-iii", "Category III emerging technology codes", "0001T", "9999T"},
    {"pla", "Proprietary Laboratory Analyses", "0001U", "9999U"},
    {"maaa", "Multianalyte Assays with Algorithmic Analyses (administrative codes)", "0001M", "9999M"},
}};

// Category I by number; the ranges of k_chapters less Medicine's gap, which Evaluation and Management fills.
struct NumberRange {
  const char* first_code;
  const char* last_code;
  const char* chapter;
};

constexpr std::array<NumberRange, 7> k_category_i = {{
    {"00100", "01999", "anesthesia"},
    {"10004", "69990", "surgery"},
    {"70010", "79999", "radiology"},
    {"80047", "89398", "pathology-laboratory"},
    {"90281", "99199", "medicine"},
    {"99202", "99499", "evaluation-management"},
    {"99500", "99607", "medicine"},
}};

std::optional<std::string> chapter_of(const std::string& code) {
  switch (code.back()) {
    case 'F':
      return "category-ii";
    case 'T':
      return "category-iii";
    case 'U':
      return "pla";
    case 'M':
      return "maaa";
    default:
      break;
  }
  // Five digits compare as numbers when compared as text.
  for (const NumberRange& range : k_category_i) {
    if (code >= range.first_code && code <= range.last_code) return range.chapter;
  }
  return std::nullopt;  // a number between the ranges (99201, deleted in 2021)
}

// A descriptor with where it came from, to name both places when two files disagree.
struct Sourced {
  std::string text;
  std::string source;
  std::size_t line = 0;
};

struct CptCode {
  bool modifier = false;
  std::optional<Sourced> concept_id;
  std::map<CptFileKind, Sourced> descriptors;  // long, medium, short, consumer friendly, modifier
  std::map<std::string, std::string> clinician_descriptors;  // by clinician descriptor id
  std::string first_source;                                  // where the code was first seen
  std::size_t first_line = 0;
};

class CptMerger {
 public:
  void add(const CptFile& file, const std::string& source) {
    ++m_n_files[file.kind];
    for (const CptRow& row : file.rows) add_row(file.kind, row, source);
  }

  std::size_t n_files(CptFileKind kind) const {
    auto found = m_n_files.find(kind);
    return found == m_n_files.end() ? 0 : found->second;
  }

  const std::map<std::string, CptCode>& codes() const { return m_codes; }

 private:
  void add_row(CptFileKind kind, const CptRow& row, const std::string& source) {
    bool modifier = kind == CptFileKind::modifiers;
    // A modifier and a code never share a key: modifiers have two characters, codes five.
    auto [it, inserted] = m_codes.try_emplace(row.code);
    CptCode& code = it->second;
    if (inserted) {
      code.modifier = modifier;
      code.first_source = source;
      code.first_line = row.line;
    }
    Sourced here{row.text, source, row.line};
    if (!row.concept_id.empty())
      agree(code.concept_id, Sourced{row.concept_id, source, row.line}, row.code, "Concept Id");
    if (kind == CptFileKind::clinician_descriptors) {
      code.clinician_descriptors.emplace(row.clinician_descriptor_id, row.text);
      return;
    }
    std::optional<Sourced> current;
    if (auto found = code.descriptors.find(kind); found != code.descriptors.end()) current = found->second;
    agree(current, here, row.code, cpt_file_kind_name(kind));
    code.descriptors[kind] = *current;
  }

  // The same code in two files (LongDescriptor.txt and LONGULT.txt) must say the same.
  static void agree(std::optional<Sourced>& current, const Sourced& here, const std::string& code,
                    std::string_view field) {
    if (!current) {
      current = here;
      return;
    }
    if (current->text == here.text) return;
    fail(ExitCode::bad_input, "{}:{}: {} of {} differs from the one {}:{} gives", here.source, here.line,
         field, code, current->source, current->line);
  }

  std::map<std::string, CptCode> m_codes;  // by code: written in code order
  std::map<CptFileKind, std::size_t> m_n_files;
};

// CPT is licensed and never fetched: only the paths given, and a zip's members that are CPT files. A plain
// file that is not one is an error naming its first line.
std::vector<RecognisedInput> read_cpt_inputs(const std::vector<fs::path>& paths) {
  std::vector<RecognisedInput> inputs;
  for (const fs::path& path : paths) {
    if (util::is_zip_path(path)) {
      for (auto& member : read_recognised_inputs({path}, looks_like_cpt_file, "a CPT data file"))
        inputs.push_back(std::move(member));
      continue;
    }
    inputs.push_back({path, util::read_input(path)});
  }
  return inputs;
}

// The AMA names its folders and archives for the year ("CPT 2023 data files", "cpt-2023.zip").
std::optional<int> year_of(const fs::path& path) {
  if (auto year = year_in_file_name(path)) return year;
  fs::path folder = fs::absolute(path).parent_path();
  return year_in_file_name(folder);
}

int choose_year(const ImportOptions& options, const std::vector<RecognisedInput>& inputs) {
  if (options.year) return *options.year;
  std::map<int, std::string> years;  // year → a file that says it
  for (const RecognisedInput& input : inputs) {
    if (auto year = year_of(input.path)) years.emplace(*year, input.path.string());
  }
  if (years.empty()) {
    fail(ExitCode::usage,
         "cannot tell the CPT release year from the names of the files or their folder; pass --year");
  }
  if (years.size() > 1) {
    fail(ExitCode::usage, "the files name different years ({} from {}, {} from {}); pass --year",
         years.begin()->first, years.begin()->second, years.rbegin()->first, years.rbegin()->second);
  }
  return years.begin()->first;
}

std::optional<std::string> descriptor(const CptCode& code, CptFileKind kind) {
  auto found = code.descriptors.find(kind);
  if (found == code.descriptors.end()) return std::nullopt;
  return found->second.text;
}

// Every code needs its long descriptor: a short one alone is not a description to code by.
CodeRow code_row(const std::string& key, const CptCode& code) {
  CodeRow row;
  row.code = key;
  row.kind = code.modifier ? "modifier" : "code";
  std::optional<std::string> long_text =
      descriptor(code, code.modifier ? CptFileKind::modifiers : CptFileKind::long_descriptors);
  if (!long_text) {
    fail(ExitCode::bad_input,
         "{}:{}: CPT code {} has no long descriptor (it is in no Long Descriptor file given)",
         code.first_source, code.first_line, key);
  }
  row.description = *long_text;
  row.short_description = descriptor(code, CptFileKind::short_descriptors);
  row.billable = !code.modifier;  // modifiers are appended to a code, never billed alone
  if (!code.modifier) row.chapter = chapter_of(key);
  nlohmann::json attributes = nlohmann::json::object();
  if (code.concept_id) attributes["concept_id"] = code.concept_id->text;
  if (auto medium = descriptor(code, CptFileKind::medium_descriptors))
    attributes["medium_descriptor"] = *medium;
  if (auto consumer = descriptor(code, CptFileKind::consumer_descriptors))
    attributes["consumer_descriptor"] = *consumer;
  if (!code.clinician_descriptors.empty()) {
    attributes["clinician_descriptors"] = nlohmann::json::array();
    for (const auto& [id, text] : code.clinician_descriptors)
      attributes["clinician_descriptors"].push_back({{"id", id}, {"text", text}});
  }
  if (!attributes.empty()) row.attributes = std::move(attributes);
  return row;
}

std::string role_of(CptFileKind kind) {
  switch (kind) {
    case CptFileKind::long_descriptors:
      return "long";
    case CptFileKind::medium_descriptors:
      return "medium";
    case CptFileKind::short_descriptors:
      return "short";
    case CptFileKind::consumer_descriptors:
      return "consumer";
    case CptFileKind::clinician_descriptors:
      return "clinician";
    case CptFileKind::modifiers:
      return "modifiers";
  }
  return "?";
}

std::vector<std::string> path_names(const std::vector<fs::path>& paths) {
  std::vector<std::string> names;
  for (const fs::path& path : paths) names.push_back(path.string());
  return names;
}

}  // namespace

ImportSummary import_cpt(store::Database& db, const ImportOptions& options) {
  if (options.paths.empty()) {
    fail(ExitCode::usage,
         "import cpt needs the AMA's CPT data files (e.g. LongDescriptor.txt ShortDescriptor.txt): CPT is "
         "licensed "
         "by the American Medical Association and never fetched");
  }
  util::report(options.progress, "read files", 0, options.paths.size());
  std::vector<RecognisedInput> inputs = read_cpt_inputs(options.paths);
  CptMerger merger;
  std::vector<std::pair<std::string, fs::path>> sources;
  std::set<fs::path> described;  // an archive's members share its digest
  for (const RecognisedInput& input : inputs) {
    CptFile file = parse_cpt_file(input.input.content, input.input.name);
    merger.add(file, input.input.name);
    if (described.insert(input.path).second) sources.emplace_back(role_of(file.kind), input.path);
  }
  if (merger.n_files(CptFileKind::long_descriptors) == 0) {
    fail(ExitCode::bad_input,
         "no Long Descriptor file among {}: the long descriptor is each code's description "
         "(LongDescriptor.txt, "
         "or the older LONGULT.txt)",
         fmt::join(path_names(options.paths), ", "));
  }
  // Rows first, so that a code without its long descriptor fails before the transaction begins.
  std::vector<CodeRow> rows;
  std::int64_t n_modifiers = 0;
  for (const auto& [key, code] : merger.codes()) {
    rows.push_back(code_row(key, code));
    n_modifiers += code.modifier;
  }

  ImportSummary summary;
  summary.system = System::cpt;
  summary.year = choose_year(options, inputs);
  store::Transaction transaction(db);
  ReleaseWriter writer(db, System::cpt, summary.year, options.run_id, describe_sources(sources));
  for (const CptChapter& chapter : k_chapters) {
    writer.add_group(
        {"chapter", chapter.key, std::nullopt, chapter.description, chapter.first_code, chapter.last_code});
  }
  for (const CodeRow& row : rows) writer.add_code(row);
  util::report(options.progress, "write codes", rows.size(), rows.size());
  writer.finish();
  transaction.commit();

  summary.release_id = writer.release_id();
  summary.n_codes = writer.n_codes();
  summary.n_billable = writer.n_billable();
  summary.counters["modifiers"] = n_modifiers;
  summary.counters["files"] = inputs.size();
  return summary;
}

}  // namespace medcode::codes
