// What every subcommand shares: the global options, the store, run recording and progress rendering.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medcode/llm/model_config.h"
#include "medcode/store/database.h"
#include "medcode/store/runs.h"
#include "medcode/util/error.h"
#include "medcode/util/progress.h"

namespace medcode::cli {

struct GlobalOptions {
  std::string db = "medcode.db";
  std::string config;  // the config file read, when there is one
  int verbose = 0;
  bool quiet = false;
  std::string log_file;
  bool json = false;
  bool show_config = false;
  std::uint64_t max_expanded_size = std::uint64_t{1} << 30;  // see util::ExpansionLimits
  double max_expansion_ratio = 100;
};

class Context {
 public:
  Context(GlobalOptions& options, std::vector<std::string> argv)
      : m_options(options), m_argv(std::move(argv)) {}

  const GlobalOptions& options() const { return m_options; }
  bool json() const { return m_options.json; }

  // The store at --db, opened (and migrated) on first use.
  store::Database& store();
  // Starts the runs row for this invocation; main() closes it with the command's outcome.
  store::RunRecorder& start_run(const std::string& command);
  store::RunRecorder* run() { return m_run.get(); }

  // The model table: built-in defaults overlaid by the config file's `models:`, when a config file is read,
  // with the limits given by --rate-limit and --max-output-tokens.
  llm::ModelRegistry model_registry() const;
  // Where downloads are kept: `override` when given, else medcode-files beside the store.
  std::filesystem::path download_cache_dir(const std::string& override) const;

  // Renders module progress on stderr when it is a terminal and not --quiet; a no-op callback otherwise.
  util::ProgressCallback progress();

 private:
  GlobalOptions& m_options;
  std::vector<std::string> m_argv;
  std::optional<store::Database> m_store;
  std::unique_ptr<store::RunRecorder> m_run;
};

// A subcommand: the CLI11 app it parsed into and the action to run; returns the exit code.
struct Command {
  CLI::App* app = nullptr;
  std::function<ExitCode(Context&)> run;
};
using CommandList = std::vector<Command>;

// Each subcommand file registers its commands (and nested ones) here.
void add_fetch_command(CLI::App& app, CommandList& commands);
void add_import_command(CLI::App& app, CommandList& commands);
void add_import_mimic_commands(CLI::App& import, CommandList& commands);
void add_cohort_command(CLI::App& app, CommandList& commands);
void add_codes_command(CLI::App& app, CommandList& commands);
void add_export_command(CLI::App& app, CommandList& commands);
void add_reranker_command(CLI::App& app, CommandList& commands);
void add_generate_command(CLI::App& app, CommandList& commands);
// `cohort packet`, registered under the `cohort` command by cohort.cpp.
void add_cohort_packet_command(CLI::App& cohort, CommandList& commands);
void add_score_command(CLI::App& app, CommandList& commands);
void add_check_command(CLI::App& app, CommandList& commands);
void add_evaluate_command(CLI::App& app, CommandList& commands);
void add_report_command(CLI::App& app, CommandList& commands);
void add_run_command(CLI::App& app, CommandList& commands);
void add_tokenize_command(CLI::App& app, CommandList& commands);
void add_train_command(CLI::App& app, CommandList& commands);
void add_predict_command(CLI::App& app, CommandList& commands);
void add_model_command(CLI::App& app, CommandList& commands);
void add_serve_command(CLI::App& app, CommandList& commands);

}  // namespace medcode::cli
