// `import icd10cm`: recognises the given files by content (tabular XML, index XML, order file, code
// descriptions file; plain, .gz or inside CMS's zip), parses them and writes one release in one transaction.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "medcode/codes/icd10cm_index.h"
#include "medcode/codes/icd10cm_order.h"
#include "medcode/codes/icd10cm_tabular.h"
#include "medcode/codes/import.h"
#include "medcode/codes/import_inputs.h"
#include "medcode/codes/release_writer.h"
#include "medcode/store/bulk_write.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/text.h"
#include "medcode/util/utf8.h"

namespace medcode::codes {

namespace {

namespace fs = std::filesystem;

enum class InputRole { tabular, index, order, unsupported_table, unknown };

struct Inputs {
  std::optional<util::Input> tabular;
  std::vector<util::Input> indexes;
  std::optional<util::Input> order;
  std::vector<std::pair<std::string, fs::path>> sources;  // role, path
  std::vector<std::string> warnings;
};

InputRole classify(std::string_view content) {
  std::string_view head = content.substr(0, 4096);
  if (head.find("<ICD10CM.tabular") != std::string_view::npos) return InputRole::tabular;
  if (head.find("<ICD10CM.index") != std::string_view::npos) return InputRole::index;
  if (head.find("<ICD10CM.neoplasm") != std::string_view::npos ||
      head.find("<ICD10CM.drug") != std::string_view::npos) {
    return InputRole::unsupported_table;
  }
  if (head.find('<') == std::string_view::npos && looks_like_icd10cm_order_file(head)) return InputRole::order;
  return InputRole::unknown;
}

const char* role_name(InputRole role) {
  switch (role) {
    case InputRole::tabular: return "tabular";
    case InputRole::index: return "index";
    case InputRole::order: return "order";
    default: return "other";
  }
}

// Files found in a zip that are not code-set data (PDFs, schemas, spreadsheets) are passed over quietly.
// Returns the role the input was recognised in.
InputRole add_input(Inputs& inputs, util::Input input, const fs::path& path, bool from_archive) {
  InputRole role = classify(input.content);
  switch (role) {
    case InputRole::tabular:
      if (inputs.tabular) fail(ExitCode::usage, "two tabular files given: {} and {}", inputs.tabular->name, input.name);
      inputs.tabular = std::move(input);
      break;
    case InputRole::index:
      inputs.indexes.push_back(std::move(input));
      break;
    case InputRole::order:
      if (inputs.order) fail(ExitCode::usage, "two order files given: {} and {}", inputs.order->name, input.name);
      inputs.order = std::move(input);
      break;
    case InputRole::unsupported_table:
      inputs.warnings.push_back(input.name + ": neoplasm and drug tables are not imported");
      return role;
    case InputRole::unknown:
      if (from_archive) return role;
      fail(ExitCode::bad_input,
           "{}: not an ICD-10-CM tabular XML, index XML, order file or code descriptions file", input.name);
  }
  inputs.sources.emplace_back(role_name(role), path);
  return role;
}

Inputs read_inputs(const std::vector<fs::path>& paths) {
  // Plain and gzip files are read and decompressed side by side (the tabular and the index take about as
  // long), then recognised in the order given.
  std::vector<std::future<util::Input>> reads;
  for (const fs::path& path : paths) {
    if (!util::is_zip_path(path)) {
      reads.push_back(std::async(std::launch::async, [&path] { return util::read_input(path); }));
    }
  }
  Inputs inputs;
  auto next_read = reads.begin();
  for (const fs::path& path : paths) {
    if (!util::is_zip_path(path)) {
      add_input(inputs, (next_read++)->get(), path, false);
      continue;
    }
    std::vector<std::string> members = util::zip_members(path);
    bool recognised = false;
    for (const std::string& member : members) {
      std::string extension = util::to_lower(fs::path(member).extension().string());
      if (extension != ".xml" && extension != ".txt") continue;
      InputRole role =
          add_input(inputs, {path.string() + ":" + member, util::read_zip_member(path, member)}, path, true);
      recognised = recognised || role != InputRole::unknown;
    }
    if (!recognised) {
      fail(ExitCode::bad_input,
           "{}: no ICD-10-CM file (tabular XML, index XML, order file or code descriptions file) among its "
           "members ({})",
           path.string(), members.empty() ? std::string("none") : fmt::format("{}", fmt::join(members, ", ")));
    }
  }
  if (!inputs.tabular && !inputs.order) {
    fail(ExitCode::bad_input, "no ICD-10-CM tabular XML or order file among the inputs (a tabular or an order "
                              "file is required; the index alone has no code descriptions)");
  }
  return inputs;
}

// The order file's billable set against the tabular's: differences become warnings.
void cross_check(const Tabular& tabular, const OrderFile& order, std::string_view source,
                 std::vector<std::string>& warnings, nlohmann::json& counters) {
  std::set<std::string> from_tabular;
  for (const auto& code : tabular.codes) {
    if (code.billable) from_tabular.insert(code.code);
  }
  std::set<std::string> from_order;
  for (const auto& entry : order.entries) {
    if (entry.billable) from_order.insert(entry.code);
  }
  std::vector<std::string> only_tabular;
  std::vector<std::string> only_order;
  std::set_difference(from_tabular.begin(), from_tabular.end(), from_order.begin(), from_order.end(),
                      std::back_inserter(only_tabular));
  std::set_difference(from_order.begin(), from_order.end(), from_tabular.begin(), from_tabular.end(),
                      std::back_inserter(only_order));
  counters["order_only_billable"] = only_order.size();
  counters["tabular_only_billable"] = only_tabular.size();
  auto sample = [](const std::vector<std::string>& codes) {
    std::vector<std::string> first(codes.begin(), codes.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(codes.size(), 5)));
    return fmt::format("{}{}", fmt::join(first, ", "), codes.size() > 5 ? ", ..." : "");
  };
  if (!only_order.empty()) {
    warnings.push_back(fmt::format("{}: {} billable codes are not billable in the tabular: {}", source,
                                   only_order.size(), sample(only_order)));
  }
  if (!only_tabular.empty()) {
    warnings.push_back(fmt::format("{}: {} billable codes of the tabular are missing: {}", source,
                                   only_tabular.size(), sample(only_tabular)));
  }
}

std::optional<std::string> nearest_parent(const std::string& code, const std::unordered_set<std::string>& known) {
  std::string compact;
  for (char c : code) {
    if (c != '.') compact.push_back(c);
  }
  while (compact.size() > 3) {
    compact.pop_back();
    std::string candidate = compact.size() > 3 ? compact.substr(0, 3) + "." + compact.substr(3) : compact;
    if (known.count(candidate)) return candidate;
  }
  return std::nullopt;
}

// Codes from an order file alone: no chapters, notes or 7th-character definitions, parents by prefix.
Tabular tabular_from_order(const OrderFile& order) {
  Tabular tabular;
  std::unordered_set<std::string> known;
  for (const auto& entry : order.entries) known.insert(entry.code);
  for (const auto& entry : order.entries) {
    TabularCode code;
    code.code = entry.code;
    code.parent = nearest_parent(entry.code, known);
    code.description = entry.description;
    code.billable = entry.billable;
    code.placeholder = entry.code.find('X', 4) != std::string::npos;
    tabular.codes.push_back(std::move(code));
  }
  return tabular;
}

// Index files are parsed on another thread while the tabular is parsed; `indexes` yields them when ready.
// Notes and index terms are written before the codes, so that each code's row is written once, with the
// searchable terms they give it. The tabular and the indexes are spent: their text moves into the rows.
std::size_t write_release(ReleaseWriter& writer, Tabular& tabular, std::vector<std::future<Index>>& indexes,
                          const std::unordered_map<std::string, std::string>& short_descriptions,
                          const util::ProgressCallback& progress) {
  for (const auto& group : tabular.groups) writer.add_group(group);
  for (const auto& note : tabular.notes) writer.add_note(note.owner, note.kind, note.seq, note.text);
  for (const auto& seventh : tabular.seventh_characters) {
    writer.add_seventh_character(seventh.owner, seventh.character, seventh.meaning);
  }
  std::size_t n_terms = 0;
  for (auto& pending : indexes) {
    Index index = pending.get();
    n_terms += write_index_terms(writer, index);
  }
  std::uint64_t done = 0;
  CodeRow row;
  for (auto& code : tabular.codes) {
    if (auto it = short_descriptions.find(code.code); it != short_descriptions.end()) {
      row.short_description = it->second;
    } else {
      row.short_description.reset();
    }
    row.code = std::move(code.code);
    row.parent = std::move(code.parent);
    row.chapter.reset();
    if (!code.chapter.empty()) row.chapter = std::move(code.chapter);
    row.section.reset();
    if (!code.section.empty()) row.section = std::move(code.section);
    row.description = std::move(code.description);
    row.billable = code.billable;
    row.placeholder = code.placeholder;
    row.seventh_char = std::move(code.seventh_char);
    row.seventh_meaning = std::move(code.seventh_meaning);
    writer.add_code(row);
    if (++done % 8192 == 0) util::report(progress, "write codes", done, tabular.codes.size());
  }
  util::report(progress, "write codes", done, tabular.codes.size());
  util::report(progress, "build search index", 0, 0);
  writer.finish();
  return n_terms;
}

int choose_year(const ImportOptions& options, int resolved_year, const Inputs& inputs,
                const std::optional<int>& tabular_year) {
  if (options.year && tabular_year && *options.year != *tabular_year) {
    fail(ExitCode::bad_input, "{}: the tabular is for {} but --year {} was given", inputs.tabular->name,
         *tabular_year, *options.year);
  }
  if (options.year) return *options.year;
  if (tabular_year) return *tabular_year;
  if (resolved_year > 0) return resolved_year;
  for (const auto& [role, path] : inputs.sources) {
    if (auto year = year_in_file_name(path)) return *year;
  }
  fail(ExitCode::usage, "cannot tell the release year from the files; pass --year");
}

}  // namespace

ImportSummary import_icd10cm(store::Database& db, const ImportOptions& options) {
  auto started_at = std::chrono::steady_clock::now();
  int resolved_year = 0;
  std::vector<fs::path> paths = resolve_import_paths(db, System::icd10cm, options, resolved_year);
  util::report(options.progress, "read files", 0, paths.size());
  Inputs inputs = read_inputs(paths);
  std::vector<std::string> repairs;
  std::size_t replaced = 0;
  auto decode = [&](util::Input& input) {
    std::size_t n = util::decode_xml_text(input.content, input.name, options.lossy);
    if (n > 0) repairs.push_back(fmt::format("{}: {} invalid UTF-8 sequences replaced with U+FFFD", input.name, n));
    replaced += n;
  };
  for (auto& input : inputs.indexes) decode(input);
  if (inputs.tabular) decode(*inputs.tabular);

  std::vector<std::future<Index>> indexes;
  for (auto& input : inputs.indexes) {
    indexes.push_back(std::async(std::launch::async, [&input] { return parse_icd10cm_index(input.content, input.name); }));
  }
  Tabular tabular;
  std::optional<OrderFile> order;
  if (inputs.order) order = parse_icd10cm_order_file(inputs.order->content, inputs.order->name);
  if (inputs.tabular) {
    util::report(options.progress, "parse tabular", 0, 0);
    tabular = parse_icd10cm_tabular(inputs.tabular->content, inputs.tabular->name);
  } else {
    tabular = tabular_from_order(*order);
  }

  ImportSummary summary;
  summary.system = System::icd10cm;
  summary.year = choose_year(options, resolved_year, inputs, tabular.year);
  summary.warnings = inputs.warnings;
  summary.warnings.insert(summary.warnings.end(), repairs.begin(), repairs.end());
  if (replaced > 0) summary.counters["replaced_utf8"] = replaced;
  std::unordered_map<std::string, std::string> short_descriptions;
  if (order) {
    if (inputs.tabular) cross_check(tabular, *order, inputs.order->name, summary.warnings, summary.counters);
    for (const auto& entry : order->entries) {
      if (!entry.short_description.empty()) short_descriptions.emplace(entry.code, entry.short_description);
    }
  }

  auto parsed_at = std::chrono::steady_clock::now();
  store::BulkWrite bulk(db);  // tens of megabytes written at once: synced once, at the end
  store::Transaction transaction(db);
  ReleaseWriter writer(db, System::icd10cm, summary.year, options.run_id, describe_sources(inputs.sources));
  std::size_t n_terms = write_release(writer, tabular, indexes, short_descriptions, options.progress);
  transaction.commit();
  bulk.sync();
  auto written_at = std::chrono::steady_clock::now();
  spdlog::debug("import icd10cm: read and parsed in {:.3f} s, written in {:.3f} s",
                std::chrono::duration<double>(parsed_at - started_at).count(),
                std::chrono::duration<double>(written_at - parsed_at).count());

  summary.release_id = writer.release_id();
  summary.n_codes = writer.n_codes();
  summary.n_billable = writer.n_billable();
  summary.counters["chapters"] = std::count_if(tabular.groups.begin(), tabular.groups.end(),
                                               [](const auto& group) { return group.kind == "chapter"; });
  summary.counters["notes"] = tabular.notes.size();
  summary.counters["index_terms"] = n_terms;
  summary.counters["seventh_character_excluded"] = tabular.n_seventh_excluded;
  return summary;
}

}  // namespace medcode::codes
