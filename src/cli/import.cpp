// `medcode import icd10cm|icd10pcs|hcpcs|cpt|gem`: parse official code-set files (or the AMA's licensed CPT
// files a user holds) into the store as one release, or CMS's ICD-9 ↔ ICD-10 mappings into gem_mappings.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>

#include "context.h"
#include "medcode/codes/import.h"

namespace medcode::cli {

namespace {

struct ImportCommandOptions {
  int year = 0;
  std::vector<std::string> paths;
  bool strict = false;
  bool lossy = false;
};

using ImportFunction = codes::ImportSummary (*)(store::Database&, const codes::ImportOptions&);
using SummaryPrinter = void (*)(const Context&, const codes::ImportSummary&, double seconds);

void print_summary(const Context& context, const codes::ImportSummary& summary, double seconds) {
  if (context.json()) {
    nlohmann::json out = {{"system", codes::system_name(summary.system)},
                          {"year", summary.year},
                          {"release_id", summary.release_id},
                          {"codes", summary.n_codes},
                          {"billable", summary.n_billable},
                          {"counters", summary.counters},
                          {"warnings", summary.warnings},
                          {"seconds", seconds}};
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::cout << fmt::format("imported {} {}: {} codes, {} billable", codes::system_display_name(summary.system),
                           summary.year, summary.n_codes, summary.n_billable);
  for (const auto& [name, value] : summary.counters.items()) std::cout << fmt::format(", {} {}", value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), name);
  std::cout << fmt::format(" ({:.2f} s)\n", seconds);
}

// GEMs write no release: one line per direction imported.
void print_gem_summary(const Context& context, const codes::ImportSummary& summary, double seconds) {
  if (context.json()) {
    nlohmann::json out = {{"gem", summary.counters}, {"year", summary.year}, {"seconds", seconds}};
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  for (const auto& [direction, counts] : summary.counters.items()) {
    std::cout << fmt::format(
        "imported GEM {} {}: {} entries, {} source codes, {} mappings ({} approximate, {} combination), "
        "{} no map\n",
        direction, counts["year"].get<int>(), counts["entries"].get<std::int64_t>(),
        counts["source_codes"].get<std::int64_t>(), counts["mappings"].get<std::int64_t>(),
        counts["approximate"].get<std::int64_t>(), counts["combination"].get<std::int64_t>(),
        counts["no_map"].get<std::int64_t>());
  }
  std::cout << fmt::format("({:.2f} s)\n", seconds);
}

void add_system(CLI::App& import, CommandList& commands, const std::string& name, const std::string& help,
                const std::string& paths_help, ImportFunction function,
                SummaryPrinter print = &print_summary) {
  auto options = std::make_shared<ImportCommandOptions>();
  CLI::App* command = import.add_subcommand(name, help);
  command->add_option("--year", options->year,
                      "Release year (fiscal year for ICD-10); taken from the files when they state it, "
                      "required when importing fetched files");
  command->add_option("paths", options->paths, paths_help)->check(CLI::ExistingFile);
  command->add_flag("--strict", options->strict,
                    "Stop at an optional field that does not parse (default: keep it empty and warn, naming "
                    "the record and column)");
  command->add_flag("--lossy", options->lossy,
                    "Replace bytes that are not valid UTF-8 with U+FFFD and count them (default: exit 3 "
                    "naming the file, line and byte)");
  commands.push_back({command, [options, function, print, name](Context& context) {
                        codes::ImportOptions import_options;
                        if (options->year != 0) import_options.year = options->year;
                        import_options.strict = options->strict;
                        import_options.lossy = options->lossy;
                        for (const auto& path : options->paths) import_options.paths.emplace_back(path);
                        auto& run = context.start_run("import " + name);
                        import_options.run_id = run.id();
                        import_options.progress = context.progress();
                        auto start = std::chrono::steady_clock::now();
                        codes::ImportSummary summary = function(context.store(), import_options);
                        double seconds =
                            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                        for (const auto& warning : summary.warnings) spdlog::warn("{}", warning);
                        run.counters() = summary.counters;
                        if (summary.release_id != 0) {  // code counts describe a release
                          run.counters()["codes"] = summary.n_codes;
                          run.counters()["billable"] = summary.n_billable;
                        }
                        run.counters()["year"] = summary.year;
                        print(context, summary, seconds);
                        return ExitCode::ok;
                      }});
}

}  // namespace

void add_import_command(CLI::App& app, CommandList& commands) {
  CLI::App* import = app.add_subcommand("import", "Import official code sets and MIMIC tables into the store");
  import->require_subcommand(1);
  add_system(*import, commands, "icd10cm", "ICD-10-CM: tabular XML, Alphabetic Index XML, order file",
             "Tabular XML, index XML and/or order file (.xml, .txt, .gz or .zip), recognised by content; "
             "none: the files fetched for --year",
             &codes::import_icd10cm);
  add_system(*import, commands, "icd10pcs", "ICD-10-PCS: codes file or order file, Alphabetic Index XML",
             "Codes file or order file, and the index XML (.txt, .xml, .gz or .zip), recognised by content; "
             "none: the files fetched for --year",
             &codes::import_icd10pcs);
  add_system(*import, commands, "hcpcs", "HCPCS Level II: the annual fixed-width file or CMS's zip",
             "The annual file (e.g. HCPC2019_CONTR_ANWEB.txt) or the zip CMS distributes; none: the file "
             "fetched for --year",
             &codes::import_hcpcs);
  add_system(*import, commands, "cpt",
             "CPT (HCPCS Level I): the AMA's licensed CPT data files you hold (never fetched or shipped)",
             "The AMA's CPT data files (LongDescriptor.txt required; Medium, Short, Consumer and Clinician "
             "descriptors, LONGULT.txt/MEDU.txt/SHORTU.txt, a modifier file; .txt, .gz or the AMA's zip), "
             "recognised by content; year from --year, else the files' or folder's name",
             &codes::import_cpt);
  add_system(
      *import, commands, "gem",
      "CMS General Equivalence Mappings ICD-9-CM <-> ICD-10-CM/PCS (GEMs are not fetched: give the files)",
      "GEM files (e.g. 2018_I9gem.txt, gem_i9pcs.txt; .txt, .gz or CMS's zip), direction recognised by "
      "content; year from --year, else from each file's name",
      &codes::import_gem, &print_gem_summary);
  add_import_mimic_commands(*import, commands);
}

}  // namespace medcode::cli
