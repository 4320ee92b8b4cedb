// The one-shot pipeline: each stage is the same module call its own subcommand makes, so `run` and the
// stages run by hand write the same store; what a stage finds already done it leaves as it is.
#include <map>
#include "medcode/pipeline/run.h"

#include "train_stages.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>

#include "medcode/codes/catalog.h"
#include "medcode/llm/engine_outcome.h"
#include "medcode/model/stack.h"
#include "medcode/codes/import.h"
#include "medcode/dataset/export.h"
#include "medcode/dataset/generate.h"
#include "medcode/dataset/score.h"
#include "medcode/fetch/fetcher.h"
#include "medcode/fetch/manifest.h"
#include "medcode/report/report.h"
#include "medcode/util/error.h"
#include "medcode/util/file_lock.h"

namespace medcode::pipeline {

namespace {

// The smallest seeded sample of billable codes whose CMS text gives at least `target` entries. A larger
// sample of the same seed holds every code of a smaller one, so the count grows with the size and a binary
// search finds it (about 17 probes of a few milliseconds each).
std::int64_t cms_sample_size(store::Database& db, int year, std::int64_t target, std::uint64_t seed) {
  codes::ReleaseInfo release = codes::find_release(db, codes::System::icd10cm, year);
  auto entries_for = [&](std::int64_t size) {
    dataset::CodeFilter filter;
    filter.seed = seed;
    filter.sample = size;
    std::vector<std::string> sample;
    for (auto& code : dataset::select_codes(db, release, filter)) sample.push_back(std::move(code.code));
    return static_cast<std::int64_t>(dataset::cms_term_pairs(db, release, sample).size());
  };
  std::int64_t low = 1;
  std::int64_t high = release.n_billable;
  while (low < high) {
    std::int64_t middle = low + (high - low) / 2;
    if (entries_for(middle) >= target) {
      high = middle;
    } else {
      low = middle + 1;
    }
  }
  return low;
}

class Stages {
 public:
  Stages(RunSummary& summary, const RunOptions& options) : m_summary(summary), m_options(options) {}
  void done(const std::string& stage, std::string outcome, bool new_work) {
    if (m_options.on_stage) m_options.on_stage(stage, outcome);
    m_summary.stages.push_back({stage, std::move(outcome), new_work});
  }

 private:
  RunSummary& m_summary;
  const RunOptions& m_options;
};

void fetch_release(store::Database& db, const RunOptions& options, Stages& stages) {
  if (options.skip_fetch) {
    stages.done("fetch", "skipped (--skip-fetch)", false);
    return;
  }
  auto entries = fetch::select_entries(fetch::builtin_manifest(), {"icd10cm"}, {options.year});
  fetch::FetchOptions fetch_options;
  fetch_options.mirror = options.mirror;
  fetch_options.cache_dir = options.cache_dir;
  fetch_options.offline = options.offline;
  fetch_options.run_id = options.run_id;
  fetch::FetchSummary summary = fetch::fetch_entries(db, entries, fetch_options);
  bool fetched = summary.n_downloaded + summary.n_mirrored + summary.n_cached > 0;
  stages.done("fetch",
              fetch::fetch_action_name(summary.items.empty() ? fetch::FetchAction::skipped
                                                             : summary.items[0].action) +
                  fmt::format(" ({} files: {} downloaded, {} mirrored, {} verified)", summary.items.size(),
                              summary.n_downloaded, summary.n_mirrored, summary.n_verified),
              fetched);
}

void import_release(store::Database& db, const RunOptions& options, Stages& stages) {
  if (auto release = codes::try_find_release(db, codes::System::icd10cm, options.year)) {
    stages.done(
        "import",
        fmt::format("ICD-10-CM {} already imported ({} billable codes)", options.year, release->n_billable),
        false);
    return;
  }
  codes::ImportOptions import;
  import.year = options.year;
  import.run_id = options.run_id;
  import.progress = options.progress;
  codes::ImportSummary summary = codes::import_icd10cm(db, import);
  stages.done("import",
              fmt::format("imported ICD-10-CM {}: {} codes, {} billable", summary.year, summary.n_codes,
                          summary.n_billable),
              true);
}

dataset::GenerateSummary generate(store::Database& db, const RunOptions& options, Stages& stages) {
  dataset::GenerateOptions generate;
  generate.year = options.year;
  generate.filter.seed = options.seed;
  generate.run_id = options.run_id;
  generate.progress = options.progress;
  generate.max_cost_usd = options.max_cost_usd;
  if (options.models.empty()) {
    generate.task = "cms-terms";
    generate.filter.sample = cms_sample_size(db, options.year, options.target_size, options.seed);
  } else {
    generate.task = "descriptions";
    generate.models = options.models;
    // Each code gets `count` clinical and `count` lay texts from each model.
    auto per_code = static_cast<std::int64_t>(2 * generate.count * options.models.size());
    generate.filter.sample = (options.target_size + per_code - 1) / per_code;
  }
  dataset::GenerateSummary summary = dataset::generate(db, *options.registry, generate);
  std::int64_t written = summary.cms ? summary.cms->entries_written : 0;
  if (summary.engine) {
    for (const auto& model : summary.engine->models) written += model.items_done;
  }
  stages.done("generate",
              fmt::format("{} on {} codes: {} new, the job holds {} entries", summary.task, summary.codes,
                          written > 0 ? std::to_string(written) + (summary.cms ? " entries" : " codes done")
                                      : "nothing",
                          summary.job_entries),
              written > 0);
  return summary;
}

// The generation's exit code. When it failed and left the job without a single entry, the run stops here with
// the cause (a refused key, a provider down, the cap): scoring nothing would only hide it.
ExitCode generation_outcome(const dataset::GenerateSummary& summary) {
  if (!summary.engine) return ExitCode::ok;
  llm::EngineVerdict verdict = llm::judge_engine_result(*summary.engine, "codes", true);
  if (verdict.code != ExitCode::ok && summary.job_entries == 0)
    fail(verdict.code, "generate: {}", fmt::join(verdict.errors, "; "));
  return verdict.code;
}

}  // namespace

bool RunSummary::new_work() const {
  for (const auto& stage : stages) {
    if (stage.new_work) return true;
  }
  return false;
}

RunSummary run_pipeline(store::Database& db, const RunOptions& options) {
  if (options.target_size < 1)
    fail(ExitCode::usage, "--target-size {}: must be at least 1", options.target_size);
  if (!options.registry) fail(ExitCode::internal, "run_pipeline needs the model registry");
  // The model plugin is opened before any stage runs, so a missing one costs nothing.
  if (options.train) model::model_stack();
  auto start = std::chrono::steady_clock::now();
  util::FileLock lock(db.path().string() + ".lock");
  RunSummary summary;
  summary.stale_lock = lock.stale_holder();
  Stages stages(summary, options);

  fetch_release(db, options, stages);
  import_release(db, options, stages);
  dataset::GenerateSummary generated = generate(db, options, stages);
  summary.exit_code = generation_outcome(generated);

  dataset::ScoreOptions score;
  score.task = generated.task;
  score.seed = options.seed;
  score.run_id = options.run_id;
  score.progress = options.progress;
  dataset::ScoreSummary scored = dataset::score_entries(db, score);
  const dataset::CoderSummary& bm25 = scored.coders.front();
  summary.quality_histogram = bm25.histogram;
  stages.done("score",
              fmt::format("bm25: {} new scores ({} before), mean {:.3f}; {} quality findings", bm25.scored,
                          bm25.already, bm25.mean_score, scored.quality.findings.size()),
              bm25.scored > 0);

  dataset::ExportOptions export_options;
  export_options.out_dir = options.out_dir;
  export_options.seed = options.seed;
  export_options.min_quality = options.min_quality;
  export_options.task = generated.task;
  dataset::ExportSummary exported = dataset::export_dataset(db, export_options);
  summary.entries = exported.entries;
  summary.golden = exported.golden;
  for (const auto& file : exported.files) summary.outputs.push_back(file.path);
  stages.done("export",
              fmt::format("{} entries, {} golden (quality >= {}) in {}", exported.entries, exported.golden,
                          options.min_quality, options.out_dir.string()),
              false);

  if (options.train) {
    run_training_stages(db, options, summary, [&](const std::string& stage, std::string outcome, bool new_work) {
      stages.done(stage, std::move(outcome), new_work);
    });
  }

  report::ReportOptions report_options;
  report_options.output = options.out_dir / "index.html";
  report::ReportSummary reported = report::write_report(db, report_options);
  summary.outputs.push_back(reported.path);
  stages.done("report",
              fmt::format("{} ({} of {} charts with data)", reported.path.string(), reported.charts_with_data,
                          reported.charts),
              false);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

nlohmann::json to_json(const RunSummary& summary) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& stage : summary.stages) {
    stages.push_back({{"stage", stage.stage}, {"outcome", stage.outcome}, {"new_work", stage.new_work}});
  }
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& path : summary.outputs) outputs.push_back(path.string());
  return {{"stages", stages},
          {"entries", summary.entries},
          {"golden", summary.golden},
          {"outputs", outputs},
          {"new_work", summary.new_work()},
          {"quality_histogram", summary.quality_histogram},
          {"micro_f1", nlohmann::json(std::map<std::string, double>(summary.micro_f1.begin(), summary.micro_f1.end()))},
          {"seconds", summary.seconds}};
}

}  // namespace medcode::pipeline
