// What every model-backed generation task shares.
#include "generation_job.h"

#include "medcode/util/text.h"

namespace medcode::dataset {

nlohmann::json base_job_spec(std::string_view task, const GenerateOptions& options,
                             const codes::ReleaseInfo& release) {
  nlohmann::json spec = {{"task", task},
                         {"system", codes::system_name(release.system)},
                         {"year", release.year},
                         {"billable_only", options.filter.billable_only},
                         {"seed", options.filter.seed}};
  if (options.filter.chapter) spec["chapter"] = *options.filter.chapter;
  if (options.filter.limit) spec["limit"] = *options.filter.limit;
  if (options.filter.sample) spec["sample"] = *options.filter.sample;
  if (options.filter.shard) {
    spec["shard"] =
        std::to_string(options.filter.shard->first) + "/" + std::to_string(options.filter.shard->second);
  }
  return spec;
}

std::int64_t find_or_create_job(store::Database& db, const std::string& key, const nlohmann::json& spec,
                                std::optional<std::int64_t> run_id, bool& resumed) {
  auto find = db.prepare("SELECT id FROM generation_jobs WHERE job_key = ?");
  find.bind(1, key);
  if (find.step()) {
    resumed = true;
    return find.column_int64(0);
  }
  resumed = false;
  auto insert = db.prepare(
      "INSERT INTO generation_jobs (job_key, task, spec, created_at, run_id) VALUES (?, ?, ?, ?, ?)");
  insert.bind_all(key, spec.at("task").get<std::string>(), spec.dump(), util::utc_now_iso8601(), run_id);
  insert.run();
  return db.last_insert_rowid();
}

void record_prices(store::Database& db, std::int64_t run_id, const llm::ModelConfig& model) {
  auto statement = db.prepare(
      "INSERT OR REPLACE INTO run_prices (run_id, model, provider, model_id, input_per_million, "
      "output_per_million, cached_input_per_million, prices_as_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  statement.bind_all(run_id, model.name, std::string(llm::provider_name(model.provider)), model.model_id,
                     model.pricing.input_per_million, model.pricing.output_per_million,
                     model.pricing.cached_input_per_million, model.pricing.as_of);
  statement.run();
}

JobItems::JobItems(store::Database& db, std::int64_t job_id)
    : m_job_id(job_id),
      m_done(db.prepare("UPDATE generation_items SET status = 'done', request_id = ?, error = NULL "
                        "WHERE job_id = ? AND model = ? AND item_key = ?")),
      m_failed(db.prepare("UPDATE generation_items SET status = 'failed', error = ? "
                          "WHERE job_id = ? AND model = ? AND item_key = ?")) {}

void JobItems::done(const std::string& model, const std::string& key, std::int64_t request_id) {
  m_done.bind_all(request_id, m_job_id, model, key);
  m_done.run();
}

void JobItems::failed(const std::string& model, const std::vector<std::string>& keys, const std::string& error) {
  for (const auto& key : keys) {
    m_failed.bind_all(error, m_job_id, model, key);
    m_failed.run();
  }
}

llm::EngineOptions engine_options(const GenerateOptions& options) {
  llm::EngineOptions engine;
  engine.max_cost_usd = options.max_cost_usd;
  engine.use_cache = options.use_cache && !options.force;
  engine.fixed_batch_size = options.batch_size;
  engine.run_id = options.run_id;
  engine.progress = options.engine_progress;
  engine.seed = options.engine_seed;
  return engine;
}

}  // namespace medcode::dataset
