// `medcode report`: renders the store as one self-contained HTML page and prints where it went.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "context.h"
#include "medcode/report/report.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

struct ReportCommandOptions {
  std::string out = "medcode-report/index.html";
  std::string title;
};

ExitCode run_report(Context& context, const ReportCommandOptions& options) {
  // A report of a store that does not exist would only create an empty one: say so instead.
  const std::string& db_path = context.options().db;
  if (!std::filesystem::exists(db_path)) {
    fail(ExitCode::bad_input, "{}: no such store; nothing to report (`medcode --db FILE report`)", db_path);
  }
  store::RunRecorder& run = context.start_run("report");
  report::ReportOptions report_options;
  report_options.output = options.out;
  report_options.title = options.title;
  report::ReportSummary summary = report::write_report(context.store(), report_options);
  run.counters()["path"] = summary.path.string();
  run.counters()["charts"] = summary.charts;
  run.counters()["charts_with_data"] = summary.charts_with_data;
  run.counters()["bytes"] = summary.bytes;
  if (context.json()) {
    nlohmann::json out = {{"path", summary.path.string()},
                          {"charts", summary.charts},
                          {"charts_with_data", summary.charts_with_data},
                          {"bytes", summary.bytes}};
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << summary.path.string() << "\n";
  }
  return ExitCode::ok;
}

}  // namespace

void add_report_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<ReportCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "report",
      "Write the store's costs, throughput, quality, coverage and runs as one self-contained HTML page");
  command->add_option("--out", options->out, "The HTML file to write (its folder is created)")
      ->envname("MEDCODE_REPORT")
      ->capture_default_str();
  command->add_option("--title", options->title, "Page title (default: medcode report)");
  commands.push_back({command, [options](Context& context) { return run_report(context, *options); }});
}

}  // namespace medcode::cli
