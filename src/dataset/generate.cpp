// Generation jobs: selection, job and item rows, the task's run, and what each answer writes.
#include "medcode/dataset/generate.h"

#include <fmt/format.h>

#include "medcode/codes/catalog.h"
#include "medcode/dataset/llm_tasks.h"
#include "medcode/dataset/rationale_task.h"
#include "medcode/store/job_lock.h"
#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "medcode/util/text.h"
#include "generation_job.h"

namespace medcode::dataset {

namespace {

bool is_llm_task(const std::string& task) { return task == "descriptions" || task == "facets"; }

nlohmann::json job_spec(const GenerateOptions& options, const codes::ReleaseInfo& release) {
  nlohmann::json spec = base_job_spec(options.task, options, release);
  if (options.task == "descriptions") spec["count"] = options.count;
  return spec;
}

// Adds the job's items for `model` (new ones only), puts failed ones back to pending (and done ones too when
// `redo_done`), and returns the pending ones in order.
std::vector<llm::WorkItem> pending_items(store::Database& db, std::int64_t job_id, const std::string& model,
                                         const std::vector<SelectedCode>& selected, bool redo_done,
                                         std::int64_t& already_done) {
  store::Transaction transaction(db);
  auto insert = db.prepare(
      "INSERT OR IGNORE INTO generation_items (job_id, model, item_key, seq, payload) VALUES (?, ?, ?, ?, "
      "?)");
  std::int64_t seq = 0;
  for (const auto& code : selected) {
    nlohmann::json payload = {{"id", code.code}, {"description", code.description}};
    insert.bind_all(job_id, model, code.code, seq++, payload.dump());
    insert.run();
  }
  auto retry = db.prepare(
      "UPDATE generation_items SET status = 'pending', error = NULL WHERE job_id = ? AND model = ? AND "
      "(status = 'failed' OR (? AND status = 'done'))");
  retry.bind_all(job_id, model, static_cast<int>(redo_done));
  retry.run();
  transaction.commit();

  auto done =
      db.prepare("SELECT count(*) FROM generation_items WHERE job_id = ? AND model = ? AND status = 'done'");
  done.bind_all(job_id, model);
  done.step();
  already_done += done.column_int64(0);

  auto select = db.prepare(
      "SELECT item_key, payload FROM generation_items WHERE job_id = ? AND model = ? AND status = 'pending' "
      "ORDER BY seq");
  select.bind_all(job_id, model);
  std::vector<llm::WorkItem> items;
  while (select.step()) {
    items.push_back({select.column_text(0), nlohmann::json::parse(select.column_text(1))});
  }
  return items;
}

// Writes what answers produce: entries, and the items marked done or failed.
class EntryWriter {
 public:
  EntryWriter(store::Database& db, const std::string& task, const codes::ReleaseInfo& release,
              std::int64_t job_id, std::optional<std::int64_t> run_id,
              std::map<std::string, std::string> descriptions, bool replace)
      : m_db(db),
        m_task(task),
        m_system(codes::system_name(release.system)),
        m_year(release.year),
        m_job_id(job_id),
        m_run_id(run_id),
        m_descriptions(std::move(descriptions)),
        m_replace(replace),
        m_insert(db.prepare("INSERT OR IGNORE INTO dataset_entries (job_id, task, kind, text, source_system, "
                            "source_year, source_code, data, model, request_id, run_id, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")),
        m_items(db, job_id),
        // Of every job of the task on this release: a code keeps one answer of each model.
        m_remove(
            db.prepare("DELETE FROM dataset_entries WHERE task = ? AND source_system = ? AND source_year = ? "
                       "AND source_code = ? AND model = ?")) {}

  void write(const std::string& model, std::int64_t request_id, const std::vector<llm::ItemResult>& results) {
    std::string now = util::utc_now_iso8601();
    for (const auto& result : results) {
      if (m_replace) {
        m_remove.bind_all(m_task, m_system, m_year, result.key, model);
        m_remove.run();
      }
      if (m_task == "descriptions") {
        for (const char* kind : {"clinical", "lay"}) {
          for (const auto& text : result.value.at(kind)) {
            insert(kind, text.get<std::string>(), result.key, std::nullopt, model, request_id, now);
          }
        }
      } else {
        insert("facets", m_descriptions[result.key], result.key, result.value.dump(), model, request_id, now);
      }
      m_items.done(model, result.key, request_id);
    }
  }

  void fail_items(const std::string& model, const std::vector<std::string>& keys, const std::string& error) {
    m_items.failed(model, keys, error);
  }

 private:
  void insert(const std::string& kind, const std::string& text, const std::string& code,
              const std::optional<std::string>& data, const std::string& model, std::int64_t request_id,
              const std::string& now) {
    m_insert.bind_all(m_job_id, m_task, kind, text, m_system, m_year, code, data, model, request_id, m_run_id,
                      now);
    m_insert.run();
  }

  store::Database& m_db;
  std::string m_task;
  std::string m_system;
  int m_year;
  std::int64_t m_job_id;
  std::optional<std::int64_t> m_run_id;
  std::map<std::string, std::string> m_descriptions;
  bool m_replace;
  store::Statement m_insert;
  JobItems m_items;
  store::Statement m_remove;
};

std::unique_ptr<TemplateTask> make_task(const GenerateOptions& options, const codes::ReleaseInfo& release) {
  PromptTemplate prompt = load_prompt_template(options.task, options.prompts_dir);
  std::string system_name(codes::system_display_name(release.system));
  if (options.task == "descriptions") {
    return std::make_unique<DescriptionsTask>(std::move(prompt), system_name, options.count);
  }
  return std::make_unique<FacetsTask>(std::move(prompt), system_name);
}

std::int64_t count_job_entries(store::Database& db, std::int64_t job_id) {
  auto statement = db.prepare("SELECT count(*) FROM dataset_entries WHERE job_id = ?");
  statement.bind(1, job_id);
  statement.step();
  return statement.column_int64(0);
}

void check_options(const GenerateOptions& options, codes::System system) {
  if (options.task != "cms-terms" && !is_llm_task(options.task)) {
    fail(ExitCode::usage, "--task {}: unknown task (cms-terms, descriptions, facets)", options.task);
  }
  if (options.task == "cms-terms") {
    if (!options.models.empty())
      fail(ExitCode::usage, "--task cms-terms takes its text from CMS files: no --model");
    if (system != codes::System::icd10cm) fail(ExitCode::usage, "--task cms-terms works on ICD-10-CM only");
  } else if (options.models.empty()) {
    fail(ExitCode::usage, "--task {} needs at least one --model (see `medcode generate --list-models`)",
         options.task);
  }
  if (options.count < 1 || options.count > 20)
    fail(ExitCode::usage, "--count {}: must be 1 to 20", options.count);
  if (options.batch_size && (*options.batch_size < 1 || *options.batch_size > 200)) {
    fail(ExitCode::usage, "--batch-size {}: must be 1 to 200", *options.batch_size);
  }
  if (options.max_cost_usd && *options.max_cost_usd < 0)
    fail(ExitCode::usage, "--max-cost cannot be negative");
  if (options.force && !is_llm_task(options.task))
    fail(ExitCode::usage, "--force sends a task's requests again: --task {} sends none", options.task);
}

}  // namespace

codes::System selected_system(const GenerateOptions& options) {
  return options.system.value_or(options.task == "facets" ? codes::System::hcpcs : codes::System::icd10cm);
}

GenerateSummary generate(store::Database& db, const llm::ModelRegistry& registry,
                         const GenerateOptions& options) {
  if (options.task == "rationales") return generate_rationales(db, registry, options);
  codes::System system = selected_system(options);
  check_options(options, system);
  std::vector<const llm::ModelConfig*> models;
  for (const auto& name : options.models) models.push_back(&registry.get(name));

  codes::ReleaseInfo release = codes::find_release(db, system, options.year);
  GenerateSummary summary;
  summary.task = options.task;
  summary.release = codes::release_label(release);
  std::vector<SelectedCode> selected = select_codes(db, release, options.filter);
  summary.codes = static_cast<std::int64_t>(selected.size());
  if (selected.empty()) fail(ExitCode::bad_input, "no {} codes match the filters", summary.release);

  nlohmann::json spec = job_spec(options, release);
  if (options.dry_run && is_llm_task(options.task)) {
    auto task = make_task(options, release);
    std::vector<llm::ModelWork> work;
    for (const auto* model : models) {
      llm::ModelWork entry{model, {}};
      for (const auto& code : selected) {
        entry.items.push_back({code.code, {{"id", code.code}, {"description", code.description}}});
      }
      work.push_back(std::move(entry));
    }
    summary.plans = llm::plan_engine(db, *task, work, engine_options(options));
    return summary;
  }
  if (options.dry_run) return summary;  // cms-terms sends nothing and costs nothing

  // One process per job: a second one would send every request again and write every entry twice.
  std::string job_key = util::sha256_hex(spec.dump());
  store::JobLock job_lock(
      db, "generate", job_key,
      fmt::format("generate {} of {} (key {})", options.task, summary.release, job_key.substr(0, 12)));
  summary.job_id = find_or_create_job(db, job_key, spec, options.run_id, summary.job_resumed);
  if (options.task == "cms-terms") {
    std::vector<std::string> codes;
    for (const auto& code : selected) codes.push_back(code.code);
    summary.cms =
        write_cms_terms(db, release, codes, summary.job_id, options.run_id.value_or(0), options.progress);
    summary.job_entries = count_job_entries(db, summary.job_id);
    return summary;
  }

  auto task = make_task(options, release);
  std::vector<llm::ModelWork> work;
  for (const auto* model : models) {
    if (options.run_id) record_prices(db, *options.run_id, *model);
    work.push_back({model, pending_items(db, summary.job_id, model->name, selected, options.force,
                                         summary.items_already_done)});
  }
  std::map<std::string, std::string> descriptions;
  for (const auto& code : selected) descriptions[code.code] = code.description;
  EntryWriter writer(db, options.task, release, summary.job_id, options.run_id, std::move(descriptions),
                     options.force);
  llm::ResultSink on_results = [&writer](const std::string& model, std::int64_t request_id,
                                         const std::vector<llm::ItemResult>& results) {
    writer.write(model, request_id, results);
  };
  llm::FailureSink on_failure = [&writer](const std::string& model, const std::vector<std::string>& keys,
                                          const std::string& error) {
    writer.fail_items(model, keys, error);
  };
  summary.engine = llm::run_engine(db, *task, std::move(work), on_results, on_failure, engine_options(options));
  summary.job_entries = count_job_entries(db, summary.job_id);
  return summary;
}

}  // namespace medcode::dataset
