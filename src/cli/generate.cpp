// `medcode generate`: build a dataset from a code set, offline from CMS text or through LLM providers.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iostream>

#include "context.h"
#include "medcode/dataset/conversation.h"
#include "medcode/dataset/generate.h"
#include "medcode/dataset/task_review.h"
#include "medcode/llm/engine_outcome.h"
#include "medcode/util/error.h"
#include "option_groups.h"
#include "packet_options.h"

namespace medcode::cli {

namespace {

struct GenerateCommandOptions {
  // The engine and release options are bound straight into it; the conversation task takes the same ones.
  dataset::GenerateOptions generate;
  std::string task = "cms-terms";
  std::string chapter;
  bool all_codes = false;
  std::int64_t limit = 0;
  std::int64_t sample = 0;
  std::uint64_t seed = 42;
  std::string shard;
  int count = 3;
  std::string prompts;
  bool list_models = false;
  bool verify_only = false;
  int show = 0;
  // conversation
  PacketCommandOptions packet;
  std::string output_dir = "conversations";
  int retry_limit = 2;
  int min_turns = 8;
};

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto total = static_cast<long long>(seconds + 0.5);
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
}

std::string tokens_text(std::int64_t tokens) {
  if (tokens >= 1000000) return fmt::format("{:.1f}M", static_cast<double>(tokens) / 1e6);
  if (tokens >= 1000) return fmt::format("{:.1f}k", static_cast<double>(tokens) / 1e3);
  return std::to_string(tokens);
}

std::string progress_line(const llm::ModelProgress& model, double elapsed) {
  std::int64_t finished = model.items_done + model.items_failed;
  double rate = elapsed > 0 ? static_cast<double>(finished) / elapsed : 0;
  double eta = rate > 0 ? static_cast<double>(model.items_total - finished) / rate : NAN;
  return fmt::format("{} {}/{} items ({:.1f}/s) · batch {} × {} in flight · {} tok · ${:.4f} · ETA {}",
                     model.model, finished, model.items_total, rate, model.batch_size, model.in_flight,
                     tokens_text(model.tokens_in + model.tokens_out), model.cost_usd, duration_text(eta));
}

// Live progress: a redrawn line per model on a terminal; a log line every 10 s otherwise (cron, pipes).
std::function<void(const llm::EngineProgress&)> engine_progress(const Context& context) {
  if (context.options().quiet) return {};
  bool tty = ::isatty(STDERR_FILENO) != 0;
  auto last_log = std::make_shared<double>(0);
  auto lines_drawn = std::make_shared<std::size_t>(0);
  return [tty, last_log, lines_drawn](const llm::EngineProgress& progress) {
    if (tty) {
      if (*lines_drawn > 0) std::fprintf(stderr, "\033[%zuA", *lines_drawn);
      for (const auto& model : progress.models) {
        std::string line = progress_line(model, progress.elapsed_seconds);
        // The latest batch-size change says why the throughput moved; the log lines leave it to
        // batch_size_history.
        if (!model.batch_change.empty()) line += " · " + model.batch_change;
        std::fprintf(stderr, "\r\033[K%s\n", line.c_str());
      }
      *lines_drawn = progress.models.size();
      std::fflush(stderr);
      return;
    }
    if (!progress.final && progress.elapsed_seconds - *last_log < 10) return;
    *last_log = progress.elapsed_seconds;
    for (const auto& model : progress.models)
      spdlog::info("{}", progress_line(model, progress.elapsed_seconds));
  };
}

void print_models(const llm::ModelRegistry& registry, bool json) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& name : registry.names()) {
    const auto& model = registry.get(name);
    out.push_back({{"name", name},
                   {"provider", llm::provider_name(model.provider)},
                   {"model_id", model.model_id},
                   {"base_url", model.base_url},
                   {"api_key_env", model.api_key_env},
                   {"input_per_million", model.pricing.input_per_million},
                   {"output_per_million", model.pricing.output_per_million},
                   {"prices_as_of", model.pricing.as_of},
                   {"requests_per_minute", model.requests_per_minute},
                   {"tokens_per_minute", model.tokens_per_minute},
                   {"phi_allowed", model.phi_allowed}});
  }
  if (json) {
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::cout << fmt::format("{:<20} {:<10} {:<28} {:>8} {:>8} {:>7} {:>9}  {}\n", "model", "provider",
                           "model_id", "in $/M", "out $/M", "rpm", "tpm", "key");
  for (const auto& model : out) {
    std::cout << fmt::format("{:<20} {:<10} {:<28} {:>8.3f} {:>8.3f} {:>7} {:>9}  {}\n",
                             model["name"].get<std::string>(), model["provider"].get<std::string>(),
                             model["model_id"].get<std::string>(), model["input_per_million"].get<double>(),
                             model["output_per_million"].get<double>(),
                             model["requests_per_minute"].get<int>(), model["tokens_per_minute"].get<int>(),
                             model["api_key_env"].get<std::string>());
  }
}

nlohmann::json plans_json(const std::vector<llm::ModelPlan>& plans) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& plan : plans) {
    out.push_back({{"model", plan.model},
                   {"items", plan.items},
                   {"requests", plan.requests},
                   {"requests_cached", plan.requests_cached},
                   {"input_tokens", plan.input_tokens},
                   {"output_tokens", plan.output_tokens},
                   {"max_output_tokens", plan.max_output_tokens},
                   {"projected_cost_usd", plan.projected_cost_usd},
                   {"max_cost_usd", plan.max_cost_usd},
                   {"minutes_at_limits", plan.minutes_at_limits}});
  }
  return out;
}

nlohmann::json models_json(const std::vector<llm::ModelProgress>& models) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& model : models) {
    nlohmann::json entry = {{"model", model.model},
                            {"items", model.items_total},
                            {"items_done", model.items_done},
                            {"items_failed", model.items_failed},
                            {"requests_sent", model.requests_sent},
                            {"requests_cached", model.requests_cached},
                            {"requests_failed", model.requests_failed},
                            {"retries", model.retries},
                            {"repairs", model.repairs},
                            {"requests_resumed", model.requests_resumed},
                            {"splits", model.splits},
                            {"tokens_in", model.tokens_in},
                            {"tokens_out", model.tokens_out},
                            {"cost_usd", model.cost_usd},
                            {"lost_usd", model.lost_usd},
                            {"batch_size", model.batch_size},
                            {"concurrency", model.concurrency}};
    if (model.fatal_error) entry["fatal_error"] = *model.fatal_error;
    if (model.last_error) entry["last_error"] = *model.last_error;
    out.push_back(entry);
  }
  return out;
}

// What the engine did, added to a summary's JSON when it ran.
void add_engine_json(nlohmann::json& out, const std::optional<llm::EngineResult>& engine) {
  if (!engine) return;
  out["models"] = models_json(engine->models);
  out["cost_usd"] = engine->cost_usd;
  out["lost_usd"] = engine->lost_usd;
  out["seconds"] = engine->elapsed_seconds;
  out["items_left"] = engine->items_left;
  out["budget_exhausted"] = engine->budget_exhausted;
}

void print_summary(const Context& context, const dataset::GenerateSummary& summary, bool dry_run) {
  nlohmann::json out = {
      {"task", summary.task},     {"release", summary.release},     {"codes", summary.codes},
      {"job_id", summary.job_id}, {"resumed", summary.job_resumed}, {"entries", summary.job_entries},
      {"dry_run", dry_run}};
  if (summary.cms) {
    out["cms_terms"] = {{"codes_with_terms", summary.cms->codes_with_terms},
                        {"entries_written", summary.cms->entries_written},
                        {"entries_existing", summary.cms->entries_existing},
                        {"index_terms", summary.cms->index_terms},
                        {"inclusion_terms", summary.cms->inclusion_terms}};
  }
  if (!summary.plans.empty()) out["plan"] = plans_json(summary.plans);
  add_engine_json(out, summary.engine);
  if (context.json()) {
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  if (dry_run) {
    std::cout << fmt::format("dry run: {} over {} codes of {}; nothing sent\n", summary.task, summary.codes,
                             summary.release);
    std::cout << fmt::format("{:<20} {:>7} {:>9} {:>7} {:>11} {:>11} {:>11} {:>11} {:>9}\n", "model", "items",
                             "requests", "cached", "tokens in", "tokens out", "projected", "at most",
                             "minutes");
    for (const auto& plan : summary.plans) {
      std::cout << fmt::format("{:<20} {:>7} {:>9} {:>7} {:>11} {:>11} {:>11} {:>11} {:>9.1f}\n", plan.model,
                               plan.items, plan.requests, plan.requests_cached, plan.input_tokens,
                               plan.output_tokens, fmt::format("${:.4f}", plan.projected_cost_usd),
                               fmt::format("${:.4f}", plan.max_cost_usd), plan.minutes_at_limits);
    }
    return;
  }
  std::cout << fmt::format("{} on {}: {} codes, job {}{}; the job has {} entries\n", summary.task,
                           summary.release, summary.codes, summary.job_id,
                           summary.job_resumed ? " (resumed)" : "", summary.job_entries);
  if (summary.cms) {
    std::cout << fmt::format(
        "cms-terms: {} new entries ({} already present) from {} index terms and {} inclusion "
        "terms; {} of {} codes have CMS text\n",
        summary.cms->entries_written, summary.cms->entries_existing, summary.cms->index_terms,
        summary.cms->inclusion_terms, summary.cms->codes_with_terms, summary.codes);
  }
  if (summary.engine) {
    for (const auto& model : summary.engine->models) {
      std::cout << fmt::format(
          "{}: {} items done, {} failed, {} left of {}; {} requests ({} cached, {} retries, {} repairs); "
          "{} tokens in, {} out; ${:.4f}\n",
          model.model, model.items_done, model.items_failed,
          model.items_total - model.items_done - model.items_failed, model.items_total, model.requests_sent,
          model.requests_cached, model.retries, model.repairs, model.tokens_in, model.tokens_out,
          model.cost_usd);
    }
    std::cout << fmt::format("total cost ${:.4f} in {}\n", summary.engine->cost_usd,
                             duration_text(summary.engine->elapsed_seconds));
  }
}

// The exit code of a finished run (llm/engine_outcome.h), with its reasons logged.
// `nothing_valid_fails`: a model none of whose items got a valid answer is exit 3 (the dataset tasks; a
// conversation has its own rule).
ExitCode outcome(const std::optional<llm::EngineResult>& engine, bool nothing_valid_fails = false) {
  if (!engine) return ExitCode::ok;
  llm::EngineVerdict verdict = llm::judge_engine_result(*engine, "items", nothing_valid_fails);
  for (const std::string& warning : verdict.warnings) spdlog::warn("{}", warning);
  for (const std::string& error : verdict.errors) spdlog::error("{}", error);
  return verdict.code;
}

dataset::ConversationOptions conversation_options(const GenerateCommandOptions& options) {
  dataset::ConversationOptions conversation;
  conversation.packets = packet_options(options.packet);
  conversation.models = options.generate.models;
  conversation.output_dir = options.output_dir;
  conversation.rules.min_turns = options.min_turns;
  conversation.retry_limit = options.retry_limit;
  conversation.max_cost_usd = options.generate.max_cost_usd;
  conversation.use_cache = options.generate.use_cache;
  conversation.dry_run = options.generate.dry_run;
  if (!options.prompts.empty()) conversation.prompts_dir = options.prompts;
  return conversation;
}

void print_conversations(const Context& context, const dataset::ConversationSummary& summary, bool dry_run) {
  nlohmann::json admissions = nlohmann::json::array();
  for (const auto& admission : summary.admissions) {
    nlohmann::json entry = {{"hadm_id", admission.hadm_id},
                            {"status", admission.status},
                            {"turns", admission.turns},
                            {"cached", admission.cached}};
    if (admission.error) entry["error"] = *admission.error;
    admissions.push_back(entry);
  }
  nlohmann::json out = {{"task", "conversation"},
                        {"subject_id", summary.subject_id},
                        {"model", summary.model},
                        {"dry_run", dry_run},
                        {"admissions", admissions},
                        {"admissions_done", summary.admissions_done},
                        {"admissions_failed", summary.admissions_failed},
                        {"admissions_pending", summary.admissions_pending}};
  if (!summary.patient_dir.empty()) out["output"] = summary.patient_dir.string();
  if (!summary.plans.empty()) out["plan"] = plans_json(summary.plans);
  add_engine_json(out, summary.engine);
  if (context.json()) {
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  if (dry_run) {
    for (const auto& plan : summary.plans) {
      std::cout << fmt::format(
          "dry run: conversation for subject {} with {}: {} admissions, {} requests ({} cached), about {} "
          "tokens "
          "in and {} out, projected ${:.4f} (at most ${:.4f}); nothing sent\n",
          summary.subject_id, plan.model, plan.items, plan.requests, plan.requests_cached, plan.input_tokens,
          plan.output_tokens, plan.projected_cost_usd, plan.max_cost_usd);
    }
    return;
  }
  for (const auto& admission : summary.admissions) {
    std::cout << fmt::format("admission {}: {}{}{}\n", admission.hadm_id, admission.status,
                             admission.status == "done" ? fmt::format(", {} turns", admission.turns) : "",
                             admission.cached ? " (from the ledger)" : "");
  }
  std::cout << fmt::format("subject {}: {} of {} admissions written to {}; ${:.4f}\n", summary.subject_id,
                           summary.admissions_done, summary.admissions.size(), summary.patient_dir.string(),
                           summary.engine ? summary.engine->cost_usd : 0.0);
}

// Like outcome(), and admissions whose answer never met the rules fail the run too: their conversation is
// missing from the patient folder.
ExitCode conversation_outcome(const dataset::ConversationSummary& summary) {
  if (!summary.engine) return ExitCode::ok;
  ExitCode code = outcome(summary.engine);
  if (summary.admissions_failed > 0) {
    for (const auto& admission : summary.admissions) {
      if (admission.status == "failed") {
        spdlog::error("admission {}: no valid conversation: {}", admission.hadm_id,
                      admission.error.value_or("?"));
      }
    }
    spdlog::error(
        "{} of {} admissions got no valid conversation (recorded in {}/patient_manifest.json); run the same "
        "command again, or raise --retry-limit",
        summary.admissions_failed, summary.admissions.size(), summary.patient_dir.string());
    if (code == ExitCode::ok) code = ExitCode::network;
  }
  return code;
}

ExitCode run_conversation(Context& context, const GenerateCommandOptions& options,
                          const llm::ModelRegistry& registry) {
  if (options.generate.force)
    fail(ExitCode::usage, "--force is for the dataset tasks; a conversation is sent again with --no-cache");
  dataset::ConversationOptions conversation = conversation_options(options);
  if (!options.generate.dry_run) conversation.run_id = context.start_run("generate").id();
  conversation.engine_progress = engine_progress(context);
  dataset::ConversationSummary summary =
      dataset::generate_conversations(context.store(), registry, conversation);
  if (auto* run = context.run()) {
    run->counters()["task"] = "conversation";
    run->counters()["subject_id"] = summary.subject_id;
    run->counters()["admissions_done"] = summary.admissions_done;
    run->counters()["admissions_failed"] = summary.admissions_failed;
    if (summary.engine) {
      run->counters()["cost_usd"] = summary.engine->cost_usd;
      run->counters()["models"] = models_json(summary.engine->models);
    }
  }
  print_conversations(context, summary, options.generate.dry_run);
  return conversation_outcome(summary);
}

// The dataset options of the command line: task, code selection, count and prompts.
dataset::GenerateOptions generate_options(const GenerateCommandOptions& options) {
  dataset::GenerateOptions generate = options.generate;
  generate.task = options.task;
  if (!options.chapter.empty()) generate.filter.chapter = options.chapter;
  generate.filter.billable_only = !options.all_codes;
  if (options.limit > 0) generate.filter.limit = options.limit;
  if (options.sample > 0) generate.filter.sample = options.sample;
  generate.filter.seed = options.seed;
  if (!options.shard.empty()) generate.filter.shard = dataset::parse_shard(options.shard);
  generate.count = options.count;
  if (!options.prompts.empty()) generate.prompts_dir = options.prompts;
  return generate;
}

void print_coverage(const Context& context, const dataset::TaskCoverage& coverage) {
  nlohmann::json fields = nlohmann::json::object();
  for (const auto& field : coverage.fields) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& value : field.top) top.push_back({{"value", value.value}, {"count", value.count}});
    fields[field.field] = {{"distinct_values", field.distinct_values}, {"top", top}};
  }
  nlohmann::json out = {{"task", coverage.task},
                        {"release", coverage.release},
                        {"models", coverage.models},
                        {"codes", coverage.codes},
                        {"codes_done", coverage.codes_done},
                        {"coverage_percent", coverage.coverage_percent},
                        {"answers", coverage.answers},
                        {"fields", fields}};
  if (context.json()) {
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::string models =
      coverage.models.empty() ? "any model" : fmt::format("{}", fmt::join(coverage.models, ", "));
  std::cout << fmt::format("{} on {} ({}): {} codes, {} with {} ({:.1f}%); nothing sent\n", coverage.task,
                           coverage.release, models, coverage.codes, coverage.codes_done, coverage.task,
                           coverage.coverage_percent);
  for (const auto& field : coverage.fields) {
    std::vector<std::string> top;
    for (const auto& value : field.top) top.push_back(fmt::format("{} {}", value.value, value.count));
    std::cout << fmt::format("  {:<20} {:>3} distinct: {}\n", field.field, field.distinct_values,
                             fmt::join(top, " · "));
  }
}

void print_entries(const Context& context, const std::vector<dataset::ShownEntry>& entries) {
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& entry : entries) {
      nlohmann::json item = {{"code", entry.code},
                             {"description", entry.description},
                             {"model", entry.model},
                             {"created_at", entry.created_at}};
      if (!entry.data.empty()) item["facets"] = entry.data;
      if (!entry.texts.empty()) item["texts"] = entry.texts;
      out.push_back(item);
    }
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  if (entries.empty()) std::cout << "no finished entries for the selected codes\n";
  for (const auto& entry : entries) {
    std::cout << fmt::format("{}  {}\n  ({}, {})\n", entry.code, entry.description, entry.model,
                             entry.created_at);
    for (const auto& [field, value] : entry.data.items()) {
      std::cout << fmt::format("  {}: {}\n", field,
                               value.is_string() ? value.get<std::string>() : value.dump());
    }
    for (const auto& [kind, texts] : entry.texts) {
      for (const auto& text : texts) std::cout << fmt::format("  {}: {}\n", kind, text);
    }
    std::cout << "\n";
  }
}

// --verify-only and --show: read the store, send nothing, start no job.
ExitCode review(Context& context, const GenerateCommandOptions& options) {
  if (options.task == "conversation")
    fail(ExitCode::usage,
         "--verify-only and --show read dataset tasks; conversations are files (--output-dir)");
  dataset::GenerateOptions generate = generate_options(options);
  if (options.verify_only) {
    print_coverage(context, dataset::task_coverage(context.store(), generate));
  } else {
    print_entries(context, dataset::newest_entries(context.store(), generate, options.show));
  }
  return ExitCode::ok;
}

}  // namespace

void add_generate_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<GenerateCommandOptions>();
  CLI::App* command =
      app.add_subcommand("generate", "Generate a dataset from a code set: CMS text or LLM providers");
  command
      ->add_option(
          "--task", options->task,
          "cms-terms (offline, no cost), descriptions, facets, rationales (reasoning traces for golden "
          "entries), or conversation (from MIMIC packets)")
      ->check(CLI::IsMember({"cms-terms", "descriptions", "facets", "rationales", "conversation"}))
      ->capture_default_str();
  add_release_options(command, {&options->generate.system, &options->generate.year},
                      "Code system (default: icd10cm; hcpcs for facets)");
  command->add_option("--chapter", options->chapter,
                      "Only codes of this ICD-10-CM chapter (number or range)");
  command->add_flag("--all-codes", options->all_codes, "Also codes that are not billable (headers)");
  command->add_option("--limit", options->limit, "At most N codes (the first in code order)")
      ->check(CLI::PositiveNumber);
  command->add_option("--sample", options->sample, "N codes drawn at random with --seed")
      ->check(CLI::PositiveNumber);
  command->add_option("--seed", options->seed, "Seed of --sample")->capture_default_str();
  command->add_option("--shard", options->shard,
                      "i/n: only the codes of shard i of n (0-based), to split a job across machines");
  command
      ->add_option("--count", options->count,
                   "descriptions: how many clinical and how many lay texts per code")
      ->capture_default_str();
  command->add_option("--min-quality", options->generate.min_quality, "rationales: quality of a golden entry")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  dataset::GenerateOptions& generate = options->generate;
  add_engine_options(command, {&generate.models, &generate.max_cost_usd, &generate.use_cache,
                               &generate.batch_size, &generate.dry_run});
  command->add_flag(
      "--force", generate.force,
      "Send the selected codes again even when done; each new answer replaces the code's entries "
      "(the ledger keeps both)");
  CLI::Option* verify_only = command->add_flag(
      "--verify-only", options->verify_only,
      "Print the selected codes' coverage and each facet's most common values; send nothing");
  command
      ->add_option("--show", options->show,
                   "Print the N newest finished answers of the selected codes; send nothing")
      ->check(CLI::Range(1, 1000000))
      ->excludes(verify_only)
      ->excludes("--force")
      ->excludes("--dry-run");
  verify_only->excludes("--force")->excludes("--dry-run");
  command->get_option("--model")->envname("MEDCODE_MODEL");
  command
      ->add_option("--prompts", options->prompts, "Folder of prompt templates overriding the built-in ones")
      ->envname("MEDCODE_PROMPTS")
      ->check(CLI::ExistingDirectory);
  command->add_flag("--list-models", options->list_models, "List the configured models and exit");
  add_packet_options(command, options->packet, "conversation: ");
  command->add_option("--output-dir", options->output_dir, "conversation: folder of the per-patient output")
      ->capture_default_str();
  command
      ->add_option("--retry-limit", options->retry_limit,
                   "conversation: repair prompts after an answer that breaks the rules")
      ->check(CLI::Range(0, 10))
      ->capture_default_str();
  command->add_option("--min-turns", options->min_turns, "conversation: fewest turns a conversation may have")
      ->check(CLI::Range(2, 120))
      ->capture_default_str();

  commands.push_back({command, [options](Context& context) {
                        llm::ModelRegistry registry = context.model_registry();
                        if (options->list_models) {
                          print_models(registry, context.json());
                          return ExitCode::ok;
                        }
                        if (options->verify_only || options->show > 0) return review(context, *options);
                        if (options->task == "conversation")
                          return run_conversation(context, *options, registry);
                        dataset::GenerateOptions generate = generate_options(*options);
                        if (!generate.dry_run) {
                          auto& run = context.start_run("generate");
                          generate.run_id = run.id();
                        }
                        generate.progress = context.progress();
                        generate.engine_progress = engine_progress(context);
                        dataset::GenerateSummary summary =
                            dataset::generate(context.store(), registry, generate);
                        if (auto* run = context.run()) {
                          run->counters()["task"] = summary.task;
                          run->counters()["codes"] = summary.codes;
                          run->counters()["job_id"] = summary.job_id;
                          run->counters()["entries"] = summary.job_entries;
                          if (summary.cms) run->counters()["entries_written"] = summary.cms->entries_written;
                          if (summary.engine) {
                            run->counters()["cost_usd"] = summary.engine->cost_usd;
                            run->counters()["items_left"] = summary.engine->items_left;
                            run->counters()["models"] = models_json(summary.engine->models);
                          }
                        }
                        print_summary(context, summary, generate.dry_run);
                        return outcome(summary.engine, true);
                      }});
}

}  // namespace medcode::cli
