// `medcode codes show|validate|search|export|releases`: read-only lookups in the imported code sets, printed
// for a terminal or as JSON. They never create the store and record no run.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "context.h"
#include "option_groups.h"
#include "medcode/codes/catalog.h"
#include "medcode/codes/export.h"
#include "medcode/codes/search.h"
#include "medcode/codes/validator.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::cli {

namespace {

constexpr std::size_t k_max_children_shown = 20;

struct ReleaseOptions {
  std::optional<codes::System> system;
  std::optional<int> year;  // the newest imported release when not given
};

void add_release_options(CLI::App* command, ReleaseOptions& options, const std::string& system_help) {
  cli::add_release_options(command, {&options.system, &options.year}, system_help,
                           "Release year (default: the newest imported release of the system)");
}

// A read-only command must not leave an empty store behind where none was: check before opening.
store::Database& existing_store(Context& context) {
  const std::string& path = context.options().db;
  if (!std::filesystem::exists(path)) {
    fail(ExitCode::bad_input,
         "{}: no such store; import a code set first (`medcode --db {} import icd10cm ...`)", path, path);
  }
  return context.store();
}

// ---- show ----------------------------------------------------------------------------------------------

const std::map<std::string, std::string>& note_headings() {
  static const std::map<std::string, std::string> headings = {
      {"inclusion_term", "Inclusion terms"},
      {"includes", "Includes"},
      {"excludes1", "Excludes1 (never coded together with this code)"},
      {"excludes2", "Excludes2 (not included here; may be coded together)"},
      {"code_first", "Code first"},
      {"use_additional_code", "Use additional code"},
      {"code_also", "Code also"},
      {"note", "Notes"},
      {"seventh_character_note", "7th character notes"},
  };
  return headings;
}

constexpr const char* k_note_order[] = {"inclusion_term", "includes",   "excludes1",
                                        "excludes2",      "code_first", "use_additional_code",
                                        "code_also",      "note",       "seventh_character_note"};

std::string hierarchy_description(const codes::CodeDetails& details, std::string_view kind,
                                  std::string_view key) {
  for (const auto& entry : details.hierarchy) {
    if (entry.kind == kind && entry.key == key) return entry.description;
  }
  return {};
}

// Where a note comes from, as a coder reads it: "this code", "S06 Intracranial injury", "chapter 19 ...".
std::string note_source(const codes::CodeDetails& details, const codes::CodeNote& note) {
  if (note.relation == "self") return "this code";
  if (note.relation == "chapter" || note.relation == "section") {
    std::string key = note.owner.substr(note.owner.find(':') + 1);
    return fmt::format("{} {} {}", note.relation, key, hierarchy_description(details, note.relation, key));
  }
  std::string label = fmt::format("{} {}", note.owner, hierarchy_description(details, "code", note.owner));
  return note.relation == "extends" ? label + " (the code it extends)" : label;
}

void print_header(const codes::CodeDetails& details) {
  const codes::CodeRecord& record = details.record;
  std::cout << fmt::format("{}  {}\n", record.code, record.description);
  if (record.short_description) std::cout << fmt::format("short: {}\n", *record.short_description);
  std::string status =
      record.billable ? "billable" : "not billable: " + details.not_billable_reason.value_or("");
  if (record.kind == "modifier") status = "modifier";
  std::cout << fmt::format("{} · {}\n", codes::release_label(details.release), status);
}

void print_hierarchy(const codes::CodeDetails& details) {
  std::cout << "\nHierarchy\n";
  for (const auto& entry : details.hierarchy) {
    std::string key = entry.kind == "code" ? entry.key : entry.kind + " " + entry.key;
    std::cout << fmt::format("  {:<16} {}\n", key, entry.description);
  }
}

void print_children(const codes::CodeDetails& details) {
  if (details.children.empty()) return;
  std::cout << fmt::format("\nCodes below ({} child code{}, {} billable in all)\n", details.children.size(),
                           details.children.size() == 1 ? "" : "s", details.n_billable_descendants);
  for (std::size_t i = 0; i < details.children.size() && i < k_max_children_shown; ++i) {
    const auto& child = details.children[i];
    std::cout << fmt::format("  {:<10} {:<9} {}\n", child.code, child.billable ? "billable" : "header",
                             child.description);
  }
  if (details.children.size() > k_max_children_shown) {
    std::cout << fmt::format("  ... and {} more\n", details.children.size() - k_max_children_shown);
  }
}

void print_seventh_character(const codes::CodeDetails& details) {
  const codes::SeventhCharacterDetails& seventh = details.seventh;
  if (!seventh.own && seventh.applicable.empty()) return;
  std::cout << "\n7th character\n";
  std::string defined =
      seventh.defined_at ? fmt::format(" (characters defined at {})", *seventh.defined_at) : "";
  if (seventh.own) {
    std::cout << fmt::format("  {}: {}\n", seventh.own->character, seventh.own->meaning);
    if (seventh.extends) std::cout << fmt::format("  extends {}{}\n", *seventh.extends, defined);
    return;
  }
  std::cout << (seventh.required ? "  required; one of" : "  codes below take one of") << defined << ":\n";
  for (const auto& entry : seventh.applicable)
    std::cout << fmt::format("    {}: {}\n", entry.character, entry.meaning);
}

void print_notes(const codes::CodeDetails& details) {
  for (const char* kind : k_note_order) {
    std::string last_source;
    bool heading = false;
    for (const auto& note : details.notes) {
      if (note.kind != kind) continue;
      if (!heading) std::cout << "\n" << note_headings().at(kind) << "\n";
      heading = true;
      std::string source = note_source(details, note);
      if (source != last_source) std::cout << fmt::format("  from {}:\n", source);
      last_source = source;
      std::cout << fmt::format("    {}\n", note.text);
    }
  }
}

void print_index_terms(const codes::CodeDetails& details) {
  if (details.index_terms.empty()) return;
  std::cout << fmt::format("\nIndex terms ({} of {})\n", details.index_terms.size(), details.n_index_terms);
  for (const auto& term : details.index_terms) {
    std::cout << fmt::format("  {} → {}{}\n", term.path, term.code, term.code_incomplete ? "-" : "");
  }
}

void print_attributes(const codes::CodeDetails& details) {
  if (!details.record.attributes.is_object() || details.record.attributes.empty()) return;
  std::cout << "\nAttributes\n";
  for (const auto& [key, value] : details.record.attributes.items()) {
    std::cout << fmt::format("  {}: {}\n", key, value.is_string() ? value.get<std::string>() : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
}

void print_details(const codes::CodeDetails& details) {
  print_header(details);
  print_hierarchy(details);
  print_children(details);
  print_seventh_character(details);
  print_notes(details);
  print_index_terms(details);
  print_attributes(details);
}

struct ShowOptions {
  ReleaseOptions release;
  std::string code;
};

ExitCode run_show(Context& context, const ShowOptions& options) {
  store::Database& db = existing_store(context);
  codes::System system =
      codes::choose_system(options.code, options.release.system, codes::list_releases(db));
  codes::Catalog catalog(db, codes::find_release(db, system, options.release.year, util::trim(options.code)));
  codes::CodeDetails details = codes::describe_code(catalog, options.code);
  if (context.json()) {
    std::cout << codes::to_json(details).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    print_details(details);
  }
  return ExitCode::ok;
}

void add_show(CLI::App& codes_app, CommandList& commands) {
  auto options = std::make_shared<ShowOptions>();
  CLI::App* command = codes_app.add_subcommand(
      "show",
      "A code's description, billability, hierarchy, notes (own and inherited), 7th character, index terms");
  command->add_option("code", options->code, "The code, in any common form (E11.9, e119, S06.0X1A)")
      ->required();
  add_release_options(
      command, options->release,
      "Code system: icd10cm, icd10pcs, hcpcs or cpt (default: guessed from the code's shape)");
  commands.push_back({command, [options](Context& context) { return run_show(context, *options); }});
}

// ---- validate ------------------------------------------------------------------------------------------

struct ValidateOptions {
  ReleaseOptions release;
  std::vector<std::string> codes;
};

void print_validation(const codes::CodeValidation& validation) {
  std::string detail =
      validation.valid && validation.reason.empty() ? validation.description.value_or("") : validation.reason;
  std::cout << fmt::format("{:<10} {:<7} {:<9} {}\n", util::trim(validation.input),
                           validation.valid ? "valid" : "invalid", validation.canonical.value_or("-"),
                           detail);
}

// Calls `visit` for each code argument, and for each non-empty line of stdin where an argument is "-".
template <typename Visit>
void for_each_code(const std::vector<std::string>& arguments, Visit visit) {
  for (const auto& argument : arguments) {
    if (argument != "-") {
      visit(argument);
      continue;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
      std::string_view code = util::trim(line);
      if (!code.empty()) visit(code);
    }
  }
}

ExitCode run_validate(Context& context, const ValidateOptions& options) {
  store::Database& db = existing_store(context);
  codes::Validator validator(db, options.release.system, options.release.year);
  nlohmann::json results = nlohmann::json::array();
  std::size_t n_codes = 0;
  std::size_t n_invalid = 0;
  for_each_code(options.codes, [&](std::string_view input) {
    codes::CodeValidation validation = validator.validate(input);
    ++n_codes;
    if (!validation.valid) ++n_invalid;
    if (context.json()) {
      results.push_back(codes::to_json(validation));
    } else {
      print_validation(validation);
    }
  });
  if (context.json()) std::cout << results.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  if (n_invalid > 0) spdlog::info("{} of {} codes invalid", n_invalid, n_codes);
  return n_invalid > 0 ? ExitCode::bad_input : ExitCode::ok;
}

void add_validate(CLI::App& codes_app, CommandList& commands) {
  auto options = std::make_shared<ValidateOptions>();
  CLI::App* command = codes_app.add_subcommand(
      "validate", "Check codes: well formed, in the release, billable; exit 3 when any is not");
  command
      ->add_option("codes", options->codes,
                   "Codes in any common form; '-' reads one code per line from stdin")
      ->required();
  add_release_options(
      command, options->release,
      "Code system of every code: icd10cm, icd10pcs, hcpcs or cpt (default: guessed per code)");
  commands.push_back({command, [options](Context& context) { return run_validate(context, *options); }});
}

// ---- search --------------------------------------------------------------------------------------------

struct SearchCommandOptions {
  ReleaseOptions release;
  std::vector<std::string> words;
  codes::SearchOptions search;
};

void print_hits(const std::vector<codes::SearchHit>& hits) {
  for (const auto& hit : hits) {
    std::string mark = hit.kind == "modifier" ? "modifier" : hit.billable ? "billable" : "header";
    std::cout << fmt::format("{:>3}  {:<10} {:<9} {}\n", hit.rank, hit.code, mark, hit.description);
  }
}

ExitCode run_search(Context& context, const SearchCommandOptions& options) {
  std::string text;
  for (const auto& word : options.words) text += (text.empty() ? "" : " ") + word;
  codes::build_fts_query(text);  // a usage error comes before any store error
  store::Database& db = existing_store(context);
  codes::ReleaseInfo release =
      codes::find_release(db, options.release.system.value_or(codes::System::icd10cm),
                          options.release.year);
  codes::SearchResult result = codes::search_codes(db, release, text, options.search);
  if (result.any_word_fallback) {
    spdlog::info("no code matches every word of '{}'; listing codes that match any word", text);
  }
  if (result.hits.empty()) spdlog::info("no code of {} matches '{}'", codes::release_label(release), text);
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& hit : result.hits) out.push_back(codes::to_json(hit));
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    print_hits(result.hits);
  }
  return ExitCode::ok;
}

void add_search(CLI::App& codes_app, CommandList& commands) {
  auto options = std::make_shared<SearchCommandOptions>();
  CLI::App* command = codes_app.add_subcommand(
      "search", "Ranked full-text search over descriptions, inclusion terms and Alphabetic Index terms");
  command->add_option("text", options->words, "Words to search for (quoted or not)")->required();
  command->add_option("--limit", options->search.limit, "Most results to print")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  command->add_flag("--billable-only", options->search.billable_only, "Only billable codes");
  add_release_options(command, options->release,
                      "Code system: icd10cm, icd10pcs, hcpcs or cpt (default: icd10cm)");
  commands.push_back({command, [options](Context& context) { return run_search(context, *options); }});
}

// ---- export --------------------------------------------------------------------------------------------

struct ExportCommandOptions {
  ReleaseOptions release;
  codes::ExportOptions export_options;
  std::string output;  // empty: stdout
};

ExitCode run_export(Context& context, const ExportCommandOptions& options) {
  if (context.json()) {
    fail(ExitCode::usage,
         "codes export writes lines in its --format (plain, tsv, csv or jsonl); --json does not apply");
  }
  store::Database& db = existing_store(context);
  codes::ReleaseInfo release =
      codes::find_release(db, options.release.system.value_or(codes::System::icd10cm),
                          options.release.year);
  std::int64_t n_codes =
      options.output.empty()
          ? codes::export_codes(db, release, options.export_options, std::cout)
          : codes::export_codes_to_file(db, release, options.export_options, options.output);
  spdlog::debug("codes export: {} codes of {} as {}", n_codes, codes::release_label(release),
                codes::export_format_name(options.export_options.format));
  if (!options.output.empty()) {
    spdlog::info("wrote {} codes of {} to {}", n_codes, codes::release_label(release), options.output);
  }
  return ExitCode::ok;
}

void add_export(CLI::App& codes_app, CommandList& commands) {
  auto options = std::make_shared<ExportCommandOptions>();
  CLI::App* command = codes_app.add_subcommand(
      "export", "Write a release's codes in code order: CODE<TAB>DESCRIPTION lines, or with their hierarchy");
  add_release_options(command, options->release,
                      "Code system: icd10cm, icd10pcs, hcpcs or cpt (default: icd10cm)");
  command->add_flag("--billable-only", options->export_options.billable_only, "Only billable codes");
  command->add_flag("--include-modifiers", options->export_options.include_modifiers,
                    "Also HCPCS and CPT modifiers (left out by default: they are not codes)");
  command
      ->add_option_function<std::string>(
          "--format",
          [options](const std::string& name) {
            if (auto format = codes::parse_export_format(name)) options->export_options.format = *format;
          },
          "plain (CODE<TAB>DESCRIPTION, default), or tsv, csv, jsonl with a header row (not jsonl) and the "
          "columns code, description, short_description, billable, kind, parent, chapter, "
          "chapter_description, section, section_description")
      ->check(CLI::IsMember({"plain", "tsv", "csv", "jsonl"}));
  command->add_option(
      "--output", options->output,
      "Write to this file (atomically: a temporary file renamed into place) instead of stdout");
  commands.push_back({command, [options](Context& context) { return run_export(context, *options); }});
}

// ---- releases ------------------------------------------------------------------------------------------

ExitCode run_releases(Context& context) {
  store::Database& db = existing_store(context);
  std::vector<codes::ReleaseInfo> releases = codes::list_releases(db);
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& release : releases) out.push_back(codes::to_json(release));
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return ExitCode::ok;
  }
  if (releases.empty()) {
    spdlog::info("no releases imported yet; run `medcode import icd10cm` (or icd10pcs, hcpcs, cpt)");
    return ExitCode::ok;
  }
  constexpr const char* k_row = "{:<9} {:>4} {:>8} {:>8}  {}\n";
  std::cout << fmt::format(k_row, "system", "year", "codes", "billable", "imported_at");
  for (const auto& release : releases) {
    std::cout << fmt::format(k_row, codes::system_name(release.system), release.year, release.n_codes,
                             release.n_billable, release.imported_at);
  }
  return ExitCode::ok;
}

void add_releases(CLI::App& codes_app, CommandList& commands) {
  CLI::App* command = codes_app.add_subcommand("releases", "List the imported code-set releases");
  commands.push_back({command, [](Context& context) { return run_releases(context); }});
}

}  // namespace

void add_codes_command(CLI::App& app, CommandList& commands) {
  CLI::App* codes_app =
      app.add_subcommand("codes", "Look up, validate, search and export imported code sets");
  codes_app->require_subcommand(1);
  add_show(*codes_app, commands);
  add_validate(*codes_app, commands);
  add_search(*codes_app, commands);
  add_export(*codes_app, commands);
  add_releases(*codes_app, commands);
}

}  // namespace medcode::cli
