// `medcode fetch`: download (or take from a mirror) the official code-set files the manifest lists, verify
// them and record them for `import`; `--list` shows where each manifest entry stands.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include "context.h"
#include "medcode/fetch/fetcher.h"
#include "medcode/fetch/manifest.h"

namespace medcode::cli {

namespace {

namespace fs = std::filesystem;

struct FetchCommandOptions {
  std::vector<std::string> systems;
  std::vector<int> years;
  std::string mirror;
  std::string cache_dir;
  std::string manifest;
  bool offline = false;
  int retries = 4;
  int timeout = 60;
  bool list = false;
};

std::string human_size(std::int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  int unit = -1;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

nlohmann::json item_json(const fetch::FetchItem& item) {
  nlohmann::json out = {{"system", item.entry.system},
                        {"year", item.entry.year},
                        {"role", item.entry.role},
                        {"action", fetch::fetch_action_name(item.action)},
                        {"transferred", item.bytes_transferred}};
  if (item.file) {
    out["path"] = item.file->path.string();
    out["bytes"] = item.file->bytes;
    out["sha256"] = item.file->sha256;
    out["pinned"] = item.file->pinned;
    out["origin"] = item.file->origin;
    out["url"] = item.file->url;
  }
  if (!item.note.empty()) out["note"] = item.note;
  return out;
}

void print_summary(const Context& context, const fetch::FetchSummary& summary) {
  if (context.json()) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& item : summary.items) files.push_back(item_json(item));
    std::cout << nlohmann::json{{"files", files},
                                {"counters", summary.counters()},
                                {"warnings", summary.warnings}}
                     .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
    return;
  }
  std::cout << fmt::format("{:<9} {:<5} {:<8} {:<10} {:>10}  {}\n", "SYSTEM", "YEAR", "ROLE", "ACTION",
                           "SIZE", "PATH");
  for (const auto& item : summary.items) {
    std::string size = item.file ? human_size(item.file->bytes) : "-";
    std::string where = item.file ? item.file->path.string() : item.note;
    std::cout << fmt::format("{:<9} {:<5} {:<8} {:<10} {:>10}  {}\n", item.entry.system, item.entry.year,
                             item.entry.role, fetch::fetch_action_name(item.action), size, where);
  }
  std::cout << fmt::format("{} downloaded ({}), {} mirrored, {} cached, {} verified, {} skipped\n",
                           summary.n_downloaded, human_size(summary.bytes_downloaded), summary.n_mirrored,
                           summary.n_cached, summary.n_verified, summary.n_skipped);
}

void print_listing(const Context& context, const fetch::Manifest& manifest,
                   const std::vector<fetch::SourceListing>& listing) {
  if (context.json()) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& item : listing) {
      nlohmann::json out = {
          {"system", item.entry.system},    {"year", item.entry.year},
          {"role", item.entry.role},        {"status", fetch::source_status_name(item.status)},
          {"url", item.entry.url},          {"file", item.entry.file},
          {"optional", item.entry.optional}};
      out["pin"] = item.entry.sha256 ? nlohmann::json(*item.entry.sha256) : nlohmann::json(nullptr);
      if (item.file)
        out["recorded"] = {{"path", item.file->path.string()},
                           {"bytes", item.file->bytes},
                           {"sha256", item.file->sha256},
                           {"fetched_at", item.file->fetched_at}};
      entries.push_back(out);
    }
    std::cout << nlohmann::json{{"manifest", manifest.source}, {"entries", entries}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::cout << fmt::format("{:<9} {:<5} {:<8} {:<9} {:<6} {:>10}  {}\n", "SYSTEM", "YEAR", "ROLE", "STATUS",
                           "PIN", "SIZE", "LOCATION");
  for (const auto& item : listing) {
    std::string size = item.file ? human_size(item.file->bytes) : "-";
    std::string where = item.file ? item.file->path.string() : item.entry.url;
    std::cout << fmt::format("{:<9} {:<5} {:<8} {:<9} {:<6} {:>10}  {}\n", item.entry.system, item.entry.year,
                             item.entry.role, fetch::source_status_name(item.status),
                             item.entry.sha256 ? "pinned" : "-", size, where);
  }
}

fetch::FetchOptions fetch_options(Context& context, const FetchCommandOptions& options) {
  fetch::FetchOptions out;
  if (!options.mirror.empty()) out.mirror = fs::path(options.mirror);
  out.cache_dir = context.download_cache_dir(options.cache_dir);
  out.offline = options.offline;
  out.download.retries = options.retries;
  out.download.connect_timeout = std::chrono::seconds(options.timeout);
  out.download.stall_timeout = std::chrono::seconds(options.timeout);
  out.download.progress = context.progress();
  return out;
}

ExitCode run_fetch(Context& context, const FetchCommandOptions& options) {
  std::optional<fetch::Manifest> loaded;
  if (!options.manifest.empty()) loaded = fetch::load_manifest(options.manifest);
  const fetch::Manifest& manifest = loaded ? *loaded : fetch::builtin_manifest();
  if (options.list) {
    auto entries = fetch::select_entries(manifest, options.systems, options.years, fetch::YearDefault::all);
    print_listing(context, manifest, fetch::list_entries(context.store(), entries));
    return ExitCode::ok;
  }
  auto entries = fetch::select_entries(manifest, options.systems, options.years);
  auto& run = context.start_run("fetch");
  fetch::FetchOptions settings = fetch_options(context, options);
  settings.run_id = run.id();
  fetch::FetchSummary summary = fetch::fetch_entries(context.store(), entries, settings);
  for (const auto& warning : summary.warnings) spdlog::warn("{}", warning);
  run.counters() = summary.counters();
  print_summary(context, summary);
  return ExitCode::ok;
}

}  // namespace

void add_fetch_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<FetchCommandOptions>();
  CLI::App* fetch = app.add_subcommand(
      "fetch", "Download the official code-set files (or take them from a mirror), verify and record them");
  fetch->add_option(
      "systems", options->systems,
      "Code systems to fetch: icd10cm, icd10pcs, hcpcs (default: every system in the manifest)");
  fetch
      ->add_option(
          "--year", options->years,
          "Release year, repeatable; fiscal year for ICD-10 (default: the newest year of each system in "
          "the manifest; with --list, every year)")
      ->envname("MEDCODE_FETCH_YEAR")
      ->delimiter(',');
  fetch
      ->add_option(
          "--mirror", options->mirror,
          "Folder laid out as DIR/<system>/<year>/<file>, tried before the network; its files are used "
          "in place (default: none)")
      ->envname("MEDCODE_MIRROR")
      ->check(CLI::ExistingDirectory);
  fetch
      ->add_option(
          "--cache-dir", options->cache_dir,
          "Where downloads are kept, as DIR/<system>/<year>/<file> (default: medcode-files next to the "
          "--db store)")
      ->envname("MEDCODE_CACHE_DIR");
  fetch
      ->add_option("--manifest", options->manifest,
                   "Source manifest (YAML) to use instead of the built-in one (default: built-in "
                   "config/sources.yaml)")
      ->envname("MEDCODE_MANIFEST");
  fetch
      ->add_flag("--offline", options->offline,
                 "Never touch the network: mirror and cache only; a required file in neither is exit 4 "
                 "(default: off)")
      ->envname("MEDCODE_OFFLINE");
  fetch
      ->add_option("--retries", options->retries,
                   "Retries after a transient network failure, with exponential backoff from 1 s")
      ->envname("MEDCODE_FETCH_RETRIES")
      ->check(CLI::Range(0, 20))
      ->capture_default_str();
  fetch
      ->add_option("--timeout", options->timeout,
                   "Seconds to wait for a connection, and for a stalled transfer (under 1 KiB/s) to resume")
      ->envname("MEDCODE_FETCH_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  fetch->add_flag("--list", options->list,
                  "Show the manifest's entries and their status in the store (missing, fetched, verified, "
                  "changed) without fetching (default: off)");
  commands.push_back({fetch, [options](Context& context) { return run_fetch(context, *options); }});
}

}  // namespace medcode::cli
