// The shared option groups: one declaration of each engine, device and release option.
#include "option_groups.h"

#include <fmt/format.h>

namespace medcode::cli {

namespace {

std::string scoped(std::string_view scope, std::string_view help) { return fmt::format("{}{}", scope, help); }

}  // namespace

void add_engine_options(CLI::App* command, const EngineBindings& bind, std::string_view scope) {
  if (bind.models) {
    command->add_option("--model", *bind.models,
                        scoped(scope, "A configured model (repeat to run several side by side)"));
  }
  if (bind.max_cost_usd) {
    command
        ->add_option(
            "--max-cost", *bind.max_cost_usd,
            scoped(scope, "Spending cap in USD for this run; requests in flight count at their maximum cost"))
        ->envname("MEDCODE_MAX_COST")
        ->check(CLI::NonNegativeNumber);
  }
  if (bind.use_cache) {
    command->add_flag("--no-cache{false}", *bind.use_cache,
                      scoped(scope, "Send fresh requests even when the ledger has the answer"));
  }
  if (bind.batch_size) {
    command
        ->add_option("--batch-size", *bind.batch_size,
                     scoped(scope, "Fixed items per request (default: adaptive)"))
        ->check(CLI::PositiveNumber);
  }
  if (bind.dry_run) {
    command->add_flag(
        "--dry-run", *bind.dry_run,
        scoped(scope, "Print the planned requests, tokens and projected cost per model; send nothing"));
  }
  llm::ModelOverrides& overrides = engine_overrides();
  command
      ->add_option(
          "--rate-limit", overrides.requests_per_minute,
          scoped(scope, "Requests per minute for every model (default: each model's requests_per_minute)"))
      ->envname("MEDCODE_RATE_LIMIT")
      ->check(CLI::Range(1, 1000000));
  command
      ->add_option(
          "--max-output-tokens", overrides.max_output_tokens,
          scoped(scope, "Output token limit of each request (default: each model's max_output_tokens)"))
      ->envname("MEDCODE_MAX_OUTPUT_TOKENS")
      ->check(CLI::Range(1, 10000000));
}

llm::ModelOverrides& engine_overrides() {
  static llm::ModelOverrides overrides;
  return overrides;
}

void add_device_options(CLI::App* command, std::string& device, int& threads, std::string_view scope,
                        std::string_view threads_help) {
  command->add_option("--device", device, scoped(scope, "auto, cpu, cuda or mps"))
      ->envname("MEDCODE_DEVICE")
      ->check(CLI::IsMember({"auto", "cpu", "cuda", "mps"}))
      ->capture_default_str();
  command
      ->add_option(
          "--threads", threads,
          threads_help.empty()
              ? scoped(scope,
                       "CPU threads for LibTorch (0: the cores this process may use, at most one each)")
              : std::string(threads_help))
      ->envname("MEDCODE_THREADS")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
}

void add_release_options(CLI::App* command, const ReleaseBindings& bind, std::string_view system_help,
                         std::string_view year_help) {
  if (bind.system) {
    command
        ->add_option_function<std::string>(
            "--system",
            [system = bind.system](const std::string& name) { *system = codes::require_system(name); },
            std::string(system_help))
        ->check(CLI::IsMember({"icd10cm", "icd10pcs", "hcpcs", "cpt"}, CLI::ignore_case));
  }
  if (bind.year)
    command->add_option("--year", *bind.year, std::string(year_help))->check(CLI::Range(1900, 2999));
}

}  // namespace medcode::cli
