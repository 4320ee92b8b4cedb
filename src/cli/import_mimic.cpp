// `medcode import mimic-iv DIR` and `medcode import mimic-iii DIR`: MIMIC release folders into typed tables.
#include <fmt/format.h>

#include <iostream>

#include "context.h"
#include "medcode/mimic/import.h"

namespace medcode::cli {

namespace {

struct ImportMimicCommandOptions {
  std::string dir;
  std::vector<std::string> tables;
  bool replace = false;
  bool no_verify = false;
  bool lossy = false;
};

void print_summary(const Context& context, const mimic::MimicImportSummary& summary) {
  if (context.json()) {
    nlohmann::json tables = nlohmann::json::array();
    for (const auto& table : summary.tables) {
      tables.push_back({{"table", table.table},
                        {"store_table", table.store_name},
                        {"path", table.path.string()},
                        {"status", table.status},
                        {"rows", table.rows},
                        {"replaced_utf8", table.replaced_utf8},
                        {"seconds", table.seconds}});
    }
    nlohmann::json out = {{"source", mimic::source_name(summary.source)},
                          {"tables", tables},
                          {"rows", summary.rows},
                          {"seconds", summary.seconds}};
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::cout << fmt::format("{:<28} {:<26} {:>12} {:>9} {:>12}\n", "table", "store table", "rows", "seconds",
                           "rows/s");
  for (const auto& table : summary.tables) {
    if (table.status == "skipped") {
      std::cout << fmt::format("{:<28} {:<26} {:>12} {:>9} {:>12}\n", table.table, table.store_name,
                               "already in", "-", "-");
      continue;
    }
    double rate = table.seconds > 0 ? static_cast<double>(table.rows) / table.seconds : 0;
    std::cout << fmt::format("{:<28} {:<26} {:>12} {:>9.2f} {:>12.0f}\n", table.table, table.store_name,
                             table.rows, table.seconds, rate);
  }
  std::cout << fmt::format("imported {} rows of {} in {:.2f} s\n", summary.rows,
                           mimic::source_name(summary.source), summary.seconds);
}

void add_source(CLI::App& import, CommandList& commands, mimic::Source source, const std::string& help) {
  auto options = std::make_shared<ImportMimicCommandOptions>();
  std::string name(mimic::source_name(source));
  CLI::App* command = import.add_subcommand(name, help);
  command->add_option("dir", options->dir, "The release folder, as PhysioNet distributes it")
      ->required()
      ->check(CLI::ExistingDirectory);
  command
      ->add_option("--tables", options->tables,
                   "Only these tables (comma separated, e.g. patients,admissions,hosp/labevents); default: "
                   "every known table the folder holds")
      ->delimiter(',');
  command->add_flag("--replace", options->replace, "Re-import tables the store already has");
  command->add_flag("--no-verify", options->no_verify,
                    "Skip the check of each file against the folder's SHA256SUMS.txt");
  command->add_flag("--lossy", options->lossy,
                    "Replace bytes that are not valid UTF-8 with U+FFFD and count them (default: exit 3 "
                    "naming the file, line and byte)");
  commands.push_back({command, [options, source, name](Context& context) {
                        mimic::MimicImportOptions import_options;
                        import_options.source = source;
                        import_options.dir = options->dir;
                        import_options.tables = options->tables;
                        import_options.replace = options->replace;
                        import_options.verify_checksums = !options->no_verify;
                        import_options.lossy = options->lossy;
                        auto& run = context.start_run("import " + name);
                        import_options.run_id = run.id();
                        import_options.progress = context.progress();
                        mimic::MimicImportSummary summary =
                            mimic::import_mimic(context.store(), import_options);
                        std::int64_t imported = 0;
                        for (const auto& table : summary.tables) imported += table.status == "imported";
                        run.counters()["tables_imported"] = imported;
                        run.counters()["tables_skipped"] =
                            static_cast<std::int64_t>(summary.tables.size()) - imported;
                        run.counters()["rows"] = summary.rows;
                        print_summary(context, summary);
                        return ExitCode::ok;
                      }});
}

}  // namespace

void add_import_mimic_commands(CLI::App& import, CommandList& commands) {
  add_source(import, commands, mimic::Source::mimic_iv,
             "MIMIC-IV (hosp/, icu/ and MIMIC-IV-Note's note/ tables) from .csv or .csv.gz");
  add_source(import, commands, mimic::Source::mimic_iii,
             "MIMIC-III (ADMISSIONS.csv.gz, NOTEEVENTS.csv.gz, ...) from .csv or .csv.gz");
}

}  // namespace medcode::cli
