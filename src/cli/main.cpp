// medcode's entry point: parses the command line, sets up logging, runs one subcommand, maps errors to
// exit codes and records the run in the store.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "context.h"
#include "medcode/store/runs.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/log.h"
#include "medcode/version.h"
#include "show_config.h"
#include "yaml_config.h"

namespace {

using medcode::ExitCode;
using medcode::cli::CommandList;
using medcode::cli::Context;
using medcode::cli::GlobalOptions;

void add_global_options(CLI::App& app, GlobalOptions& options) {
  app.add_option("--db", options.db, "SQLite store file")
      ->envname("MEDCODE_DB")
      ->capture_default_str();
  // CLI11 reads the config file before it looks at the environment, so the file MEDCODE_CONFIG names is made
  // the default here, and required: a variable naming a missing file must not fall back on nothing.
  const char* from_environment = std::getenv("MEDCODE_CONFIG");
  bool named = from_environment != nullptr && *from_environment != '\0';
  app.set_config("--config", named ? from_environment : "medcode.yaml",
                 "YAML config file; options not given on the command line or in MEDCODE_* variables are taken "
                 "from it (default ./medcode.yaml when present)",
                 named)
      ->envname("MEDCODE_CONFIG");
  app.config_formatter(std::make_shared<medcode::cli::YamlConfig>(&app));
  app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key must not pass silently
  app.add_flag("-v,--verbose", options.verbose, "More detail in logs (debug level)");
  app.add_flag("-q,--quiet", options.quiet, "Only errors on stderr; no progress (for cron)");
  app.add_option("--log-file", options.log_file, "Also write logs to this file (rotated at 10 MiB, 3 kept)")
      ->envname("MEDCODE_LOG_FILE");
  app.add_flag("--json", options.json, "Results on stdout as JSON");
  app.add_option("--max-expanded-size", options.max_expanded_size,
                 "Largest a compressed input read whole (code sets, downloads) may expand to, e.g. 4G")
      ->transform(CLI::AsSizeValue(false))
      ->envname("MEDCODE_MAX_EXPANDED_SIZE")
      ->capture_default_str();
  app.add_option("--max-expansion-ratio", options.max_expansion_ratio,
                 "How many times its compressed size an input may expand to, past its first 64 MiB")
      ->check(CLI::PositiveNumber)
      ->envname("MEDCODE_MAX_EXPANSION_RATIO")
      ->capture_default_str();
  app.add_flag("--show-config", options.show_config,
               "Print every effective setting of the command and where it came from, and run nothing");
  app.set_version_flag("--version", std::string("medcode ") + medcode::k_version);
}

// The deepest subcommand that was given on the command line.
CLI::App* chosen_command(CLI::App& app) {
  CLI::App* current = &app;
  while (true) {
    auto chosen = current->get_subcommands();
    if (chosen.empty()) return current;
    current = chosen.front();
  }
}

std::string command_path(CLI::App* command) {
  std::string path;
  for (CLI::App* node = command; node && node->get_parent(); node = node->get_parent()) {
    path = path.empty() ? node->get_name() : node->get_name() + " " + path;
  }
  return path;
}

int run_command(Context& context, const CommandList& commands, CLI::App* chosen) {
  for (const auto& command : commands) {
    if (command.app == chosen) return static_cast<int>(command.run(context));
  }
  std::cerr << chosen->help();
  return static_cast<int>(ExitCode::usage);
}

}  // namespace

int main(int argc, char** argv) {
  // Past a file-size limit (ulimit -f) a write fails with EFBIG, reported like a full disk, instead of the
  // signal killing the process in the middle of a transaction.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"medcode: build, score and learn from medical-coding data", "medcode"};
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input data, 4 network or provider failure,\n"
      "5 integrity failure (checksum, schema), 6 refused by policy, 7 storage (read-only, disk full,\n"
      "file-size limit, I/O error).");
  GlobalOptions options;
  add_global_options(app, options);
  app.fallthrough();  // subcommands inherit it: global options may follow them (`medcode codes show X --json`)
  CommandList commands;
  medcode::cli::add_fetch_command(app, commands);
  medcode::cli::add_import_command(app, commands);
  medcode::cli::add_cohort_command(app, commands);
  medcode::cli::add_codes_command(app, commands);
  medcode::cli::add_generate_command(app, commands);
  medcode::cli::add_score_command(app, commands);
  medcode::cli::add_check_command(app, commands);
  medcode::cli::add_export_command(app, commands);
  medcode::cli::add_evaluate_command(app, commands);
  medcode::cli::add_reranker_command(app, commands);
  medcode::cli::add_tokenize_command(app, commands);
  medcode::cli::add_train_command(app, commands);
  medcode::cli::add_predict_command(app, commands);
  medcode::cli::add_model_command(app, commands);
  medcode::cli::add_serve_command(app, commands);
  medcode::cli::add_report_command(app, commands);
  medcode::cli::add_run_command(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ConfigError& e) {
    std::string message = e.what();
    const std::string k_cli11_wording = "INI was not able to parse ";
    if (message.rfind(k_cli11_wording, 0) == 0) message = "unknown key '" + message.substr(k_cli11_wording.size()) + "'";
    std::cerr << "error: config file: " << message << "\n";
    return static_cast<int>(ExitCode::usage);
  } catch (const CLI::ParseError& e) {
    // The parser quotes what it could not place; a secret given on the command line is not repeated.
    std::string message = e.what();
    // A config file that does not parse is named.
    if (message.rfind("config file: ", 0) == 0) {
      if (CLI::Option* config = app.get_config_ptr(); config && config->count() > 0)
        message = "config file " + config->as<std::string>() + message.substr(std::string("config file").size());
    }
    std::vector<std::string> given(argv, argv + argc);
    std::vector<std::string> redacted = medcode::store::redact_arguments(given);
    for (std::size_t i = 0; i < given.size(); ++i) {
      if (given[i] == redacted[i]) continue;
      std::size_t equals = given[i].find('=');
      std::string secret = equals == std::string::npos ? given[i] : given[i].substr(equals + 1);
      if (secret.empty()) continue;
      for (auto at = message.find(secret); at != std::string::npos; at = message.find(secret, at))
        message.replace(at, secret.size(), "***");
    }
    std::cerr << message << "\nRun with --help for more information.\n";
    return static_cast<int>(ExitCode::usage);
  }

  if (CLI::Option* config = app.get_config_ptr(); config && config->count() > 0) {
    options.config = config->as<std::string>();
  }
  std::vector<std::string> arguments(argv, argv + argc);
  medcode::util::ExpansionLimits limits;
  limits.max_bytes = options.max_expanded_size;
  limits.max_ratio = options.max_expansion_ratio;
  medcode::util::set_expansion_limits(limits);
  Context context(options, arguments);
  try {
    medcode::util::LogOptions log_options;
    log_options.verbosity = options.quiet      ? medcode::util::Verbosity::quiet
                            : options.verbose ? medcode::util::Verbosity::verbose
                                              : medcode::util::Verbosity::normal;
    if (!options.log_file.empty()) log_options.log_file = options.log_file;
    medcode::util::init_logging(log_options);
    CLI::App* chosen = chosen_command(app);
    if (options.show_config) {
      for (const std::string& line : medcode::cli::describe_settings(*chosen, arguments)) std::cout << line << "\n";
      return 0;
    }
    spdlog::debug("medcode {}: {}", medcode::k_version, command_path(chosen));
    int code = run_command(context, commands, chosen);
    if (auto* run = context.run()) {
      if (code == 0) {
        run->finish();
      } else {
        // What the command said was wrong; its exit code when it said nothing.
        std::vector<std::string> errors = medcode::util::logged_errors();
        std::string error = "exited with code " + std::to_string(code);
        if (!errors.empty()) {
          error.clear();
          for (const std::string& line : errors) error += (error.empty() ? "" : "; ") + line;
        }
        run->fail(code, error);
      }
    }
    return code;
  } catch (const medcode::Error& e) {
    spdlog::error("{}", e.what());
    if (auto* run = context.run()) {
      try {
        run->fail(static_cast<int>(e.code()), e.what());
      } catch (const std::exception& inner) {
        spdlog::debug("could not record the failed run: {}", inner.what());
      }
    }
    return static_cast<int>(e.code());
  } catch (const std::filesystem::filesystem_error& e) {
    // A file system that refuses (read-only, full, permission) is the environment's fault, not a bug.
    ExitCode code = medcode::exit_code_of_errno(e.code().value());
    std::string message = e.path1().empty() ? e.code().message()
                                            : fmt::format("{}: {}", e.path1().string(), e.code().message());
    spdlog::error("{}{}", code == ExitCode::internal ? "internal error: " : "", message);
    if (auto* run = context.run()) {
      try {
        run->fail(static_cast<int>(code), message);
      } catch (const std::exception&) {
      }
    }
    return static_cast<int>(code);
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    if (auto* run = context.run()) {
      try {
        run->fail(static_cast<int>(ExitCode::internal), e.what());
      } catch (const std::exception&) {
      }
    }
    return static_cast<int>(ExitCode::internal);
  }
}
