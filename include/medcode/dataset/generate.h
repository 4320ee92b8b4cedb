// `medcode generate`: picks the codes of a release, finds or creates the generation job, and runs its task:
// offline from CMS text (cms-terms), or through one or more models side by side (descriptions, facets).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "medcode/codes/code_system.h"
#include "medcode/dataset/cms_terms.h"
#include "medcode/dataset/code_selection.h"
#include "medcode/llm/engine.h"
#include "medcode/llm/model_config.h"
#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::dataset {

struct GenerateOptions {
  std::string task = "cms-terms";       // cms-terms | descriptions | facets | rationales
  std::optional<codes::System> system;  // default: icd10cm (hcpcs for facets)
  std::optional<int> year;              // default: the newest imported release
  CodeFilter filter;
  int count = 3;                    // descriptions of each kind per code
  double min_quality = 0.7;         // rationales: the quality of a golden entry
  std::vector<std::string> models;  // configured model names (LLM tasks)
  std::optional<double> max_cost_usd;
  bool use_cache = true;
  // Sends the selected codes again even when they are done, bypassing the cache; each new answer replaces the
  // code's entries of the task (per model) in the transaction that records it, and the ledger keeps both
  // answers. The fresh requests are keyed by run_id, so give one.
  bool force = false;
  bool dry_run = false;
  std::optional<int> batch_size;  // fixed items per request
  std::optional<std::filesystem::path> prompts_dir;
  std::optional<std::int64_t> run_id;
  std::optional<std::uint64_t> engine_seed;                         // retry jitter; random when unset
  util::ProgressCallback progress;                                  // cms-terms
  std::function<void(const llm::EngineProgress&)> engine_progress;  // LLM tasks
};

struct GenerateSummary {
  std::string task;
  std::string release;  // "ICD-10-CM 2023"
  std::int64_t job_id = 0;
  bool job_resumed = false;  // the job existed before this run
  std::int64_t codes = 0;
  std::int64_t items_already_done = 0;  // over all models, before this run
  std::optional<CmsTermsSummary> cms;
  std::optional<llm::EngineResult> engine;
  std::vector<llm::ModelPlan> plans;  // dry run
  std::int64_t job_entries = 0;       // dataset_entries of the job after the run
};

// The code system the options select: --system, else the task's default (hcpcs for facets, icd10cm
// otherwise).
codes::System selected_system(const GenerateOptions& options);

// Error(usage) for an unknown task or model, a task without the models it needs or with models it cannot
// use; Error(bad_input) when the release is not imported. Provider failures are in the summary.
GenerateSummary generate(store::Database& db, const llm::ModelRegistry& registry,
                         const GenerateOptions& options);

}  // namespace medcode::dataset
