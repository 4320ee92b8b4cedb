// What every model-backed generation task shares: the job row its spec keys, the prices a run used and the
// engine options taken from the command's.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/dataset/generate.h"
#include "medcode/llm/engine.h"
#include "medcode/llm/model_config.h"
#include "medcode/store/database.h"

namespace medcode::dataset {

// The task, release and code filters of a job: what makes two runs the same job. A task adds its own settings.
nlohmann::json base_job_spec(std::string_view task, const GenerateOptions& options,
                             const codes::ReleaseInfo& release);

// The job with this spec (its "task" included), created if new; `resumed` says whether it existed.
std::int64_t find_or_create_job(store::Database& db, const std::string& key, const nlohmann::json& spec,
                                std::optional<std::int64_t> run_id, bool& resumed);

// The model's prices as this run uses them, so its costs can be read later as they were billed.
void record_prices(store::Database& db, std::int64_t run_id, const llm::ModelConfig& model);

// Marks a job's items done (with the request that answered them) or failed (with why), inside the caller's
// transaction.
class JobItems {
 public:
  JobItems(store::Database& db, std::int64_t job_id);
  void done(const std::string& model, const std::string& key, std::int64_t request_id);
  void failed(const std::string& model, const std::vector<std::string>& keys, const std::string& error);

 private:
  std::int64_t m_job_id;
  store::Statement m_done;
  store::Statement m_failed;
};

// Budget, cache, batching, run, progress and jitter seed of the engine; --force bypasses the cache.
llm::EngineOptions engine_options(const GenerateOptions& options);

}  // namespace medcode::dataset
