// Option groups that several subcommands share, each option declared once (name, help, environment variable,
// check) and bound straight into the fields of a module's options struct.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/code_system.h"
#include "medcode/llm/model_config.h"

namespace medcode::cli {

// The LLM engine: which models, how much to spend, whether the ledger answers, batching and planning only.
// A null field is an option the command does not take. `scope` prefixes each help text ("llm:<model> coders:
// ").
struct EngineBindings {
  std::vector<std::string>* models = nullptr;
  std::optional<double>* max_cost_usd = nullptr;
  bool* use_cache = nullptr;
  std::optional<int>* batch_size = nullptr;
  bool* dry_run = nullptr;
};
// Every call also adds --rate-limit and --max-output-tokens, bound to engine_overrides().
void add_engine_options(CLI::App* command, const EngineBindings& bind, std::string_view scope = "");

// The limits --rate-limit and --max-output-tokens set on every model of this run. One subcommand runs per
// process, so the command that parsed them owns them; Context::model_registry() applies them.
llm::ModelOverrides& engine_overrides();

// Where LibTorch runs: --device and --threads. `threads_help`, when given, replaces the help of --threads
// (for a command whose other engines use it too).
void add_device_options(CLI::App* command, std::string& device, int& threads, std::string_view scope = "",
                        std::string_view threads_help = "");

// Which release of a code set: --system and --year (absent: the newest imported release).
struct ReleaseBindings {
  std::optional<codes::System>* system = nullptr;
  std::optional<int>* year = nullptr;
};
void add_release_options(CLI::App* command, const ReleaseBindings& bind, std::string_view system_help,
                         std::string_view year_help = "Release year (default: the newest imported release)");

}  // namespace medcode::cli
