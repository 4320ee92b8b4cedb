// `medcode check FILE.jsonl`: checks a JSON Lines dataset file's lines, their quality and their codes, and
// prints every finding with its line, as a compiler does.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "context.h"
#include "medcode/dataset/jsonl_check.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

struct CheckCommandOptions {
  std::string file;
  std::string format;  // pairs | sft | dpo; empty: detected
  bool strict = false;
};

// Prints findings as they come, so that a large file's report needs no memory: `FILE:LINE: severity: message
// [check]`, or with --json the opening of one object whose `findings` array the summary closes.
class FindingPrinter {
 public:
  FindingPrinter(std::string file, bool json) : m_file(std::move(file)), m_json(json) {}

  void print(const dataset::JsonlFinding& finding) {
    if (m_json) {
      std::cout << (m_printed ? ",\n  " : "{\"findings\": [\n  ")
                << dataset::to_json(finding).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      std::string where = finding.line > 0 ? fmt::format("{}:{}", m_file, finding.line) : m_file;
      std::cout << fmt::format("{}: {}: {} [{}]\n", where, finding.severity, finding.message, finding.check);
    }
    m_printed = true;
  }

  void print_summary(const dataset::JsonlCheckSummary& summary) {
    if (m_json) {
      std::string rest =
          dataset::to_json(summary).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
      // The summary's members follow the findings in the same object: its own opening brace is dropped.
      std::cout << (m_printed ? "\n],\n" : "{\"findings\": [],\n") << rest.substr(rest.find('\n') + 1)
                << "\n";
      return;
    }
    print_text_summary(summary);
  }

 private:
  void print_text_summary(const dataset::JsonlCheckSummary& summary) const {
    std::string format = summary.format ? std::string(dataset::format_name(*summary.format)) : "unknown";
    std::cout << fmt::format("{}: {} lines, {} items checked ({} format{}); {} errors, {} warnings\n", m_file,
                             summary.lines, summary.items, format,
                             summary.format_detected ? ", detected" : "", summary.errors, summary.warnings);
    for (const auto& [check, count] : summary.checks) {
      std::cout << fmt::format("  {:<7} {:<20} {:>7}\n", count.severity, check, count.count);
    }
    const auto& labels = summary.labels;
    if (labels.codes > 0) {
      std::cout << fmt::format(
          "labels: {} items over {} codes; per code min {}, median {:g}, max {}; {} codes with one item\n",
          labels.entries, labels.codes, labels.min_per_code, labels.median_per_code, labels.max_per_code,
          labels.codes_with_one_entry);
    }
    if (summary.store) {
      std::cout << fmt::format("codes: {} looked up in {}\n", summary.codes_looked_up, *summary.store);
    }
    for (const std::string& note : summary.notes) std::cout << "note: " << note << "\n";
  }

  std::string m_file;
  bool m_json = false;
  bool m_printed = false;
};

ExitCode run_check(Context& context, const CheckCommandOptions& options) {
  dataset::JsonlCheckOptions check;
  if (!options.format.empty()) check.format = dataset::parse_jsonl_format(options.format);
  check.store_name = context.options().db;
  // Codes are looked up only in a store that exists: a check must not leave an empty one behind. It records
  // no run either, so the store is only read.
  store::Database* db = nullptr;
  if (std::filesystem::exists(context.options().db)) db = &context.store();
  FindingPrinter printer(options.file, context.json());
  dataset::JsonlCheckSummary summary = dataset::check_jsonl_file(
      options.file, check, db, [&printer](const dataset::JsonlFinding& finding) { printer.print(finding); });
  printer.print_summary(summary);
  if (options.strict && summary.has_errors()) {
    spdlog::error("{}: {} errors (--strict); see the findings above", options.file, summary.errors);
    return ExitCode::bad_input;
  }
  return ExitCode::ok;
}

}  // namespace

void add_check_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<CheckCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "check",
      "Check a JSON Lines dataset file: each line's fields, the quality checks of score, and its codes");
  command
      ->add_option("file", options->file, "The .jsonl file (pairs, SFT or DPO lines, as export writes them)")
      ->required();
  command->add_option("--format", options->format, "Line format (default: told by the first object's fields)")
      ->check(CLI::IsMember({"pairs", "sft", "dpo"}));
  command->add_flag("--strict", options->strict,
                    "Exit 3 when a check finds an error (default: report, exit 0)");
  commands.push_back({command, [options](Context& context) { return run_check(context, *options); }});
}

}  // namespace medcode::cli
