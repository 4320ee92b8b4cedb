// Conversation generation for one patient: packets, the data-use check, one engine run with one admission
// per request, and the patient folder written from what the engine settled.
#include "medcode/dataset/conversation.h"

#include <fmt/format.h>

#include <map>

#include "conversation_files.h"
#include "medcode/store/job_lock.h"
#include "medcode/util/error.h"

namespace medcode::dataset {

namespace {

using conversation_detail::AdmissionOutcome;

void check_options(const ConversationOptions& options) {
  if (options.models.size() != 1) {
    fail(ExitCode::usage, "--task conversation takes exactly one --model (got {})", options.models.size());
  }
  if (options.packets.subject_id <= 0) fail(ExitCode::usage, "--task conversation needs --subject-id");
  if (options.retry_limit < 0 || options.retry_limit > 10) {
    fail(ExitCode::usage, "--retry-limit {}: must be 0 to 10", options.retry_limit);
  }
  if (options.max_cost_usd && *options.max_cost_usd < 0)
    fail(ExitCode::usage, "--max-cost cannot be negative");
}

std::string item_key(std::int64_t hadm_id) { return std::to_string(hadm_id); }

}  // namespace

ConversationSummary generate_conversations(store::Database& db, const llm::ModelRegistry& registry,
                                           const ConversationOptions& options) {
  check_options(options);
  const llm::ModelConfig& model = registry.get(options.models.front());
  ConversationTask task(load_prompt_template("conversation", options.prompts_dir), options.rules);
  std::vector<llm::ModelWork> work{{&model, {}}};
  // The data-use policy before the store is even read for packets: a refused model never sees a byte.
  llm::check_data_use(task, work);

  std::vector<mimic::Packet> packets = mimic::build_packets(db, options.packets);
  if (packets.empty()) {
    fail(ExitCode::bad_input,
         "subject {} has no admission with a discharge note to write a conversation about (pass "
         "--include-admissions-without-discharge to use every admission)",
         options.packets.subject_id);
  }
  for (const auto& packet : packets) work[0].items.push_back({item_key(packet.hadm_id), packet.json});

  ConversationSummary summary;
  summary.subject_id = options.packets.subject_id;
  summary.model = model.name;
  llm::EngineOptions engine_options;
  engine_options.max_cost_usd = options.max_cost_usd;
  engine_options.use_cache = options.use_cache;
  engine_options.fixed_batch_size = 1;  // one admission per request
  engine_options.max_repairs = options.retry_limit;
  engine_options.run_id = options.run_id;
  engine_options.progress = options.engine_progress;
  engine_options.seed = options.engine_seed;
  if (options.dry_run) {
    summary.plans = llm::plan_engine(db, task, work, engine_options);
    return summary;
  }

  // One process per subject, whatever the model or folder: its requests and its patient folder are shared.
  store::JobLock job_lock(db, "conversation", std::to_string(summary.subject_id),
                          fmt::format("conversation for subject {}", summary.subject_id));
  std::map<std::string, AdmissionOutcome> outcomes;
  for (const auto& packet : packets) {
    AdmissionOutcome& outcome = outcomes[item_key(packet.hadm_id)];
    outcome.packet = &packet;
    llm::WorkItem item{item_key(packet.hadm_id), packet.json};
    outcome.prompt = task.make_request(std::span<const llm::WorkItem>(&item, 1));
    outcome.status = "pending";
  }
  llm::ResultSink on_results = [&outcomes](const std::string&, std::int64_t request_id,
                                           const std::vector<llm::ItemResult>& results) {
    for (const auto& result : results) {
      AdmissionOutcome& outcome = outcomes.at(result.key);
      outcome.status = "done";
      outcome.error.reset();
      outcome.conversation = result.value;
      outcome.request_id = request_id;
      outcome.cached = result.cached;
    }
  };
  llm::FailureSink on_failure = [&outcomes](const std::string&, const std::vector<std::string>& keys,
                                            const std::string& error) {
    for (const auto& key : keys) {
      outcomes.at(key).status = "failed";
      outcomes.at(key).error = error;
    }
  };
  summary.engine = llm::run_engine(db, task, std::move(work), on_results, on_failure, engine_options);

  conversation_detail::PatientOutput output;
  output.subject_id = summary.subject_id;
  output.source = std::string(mimic::source_name(options.packets.source));
  output.model = &model;
  output.task = &task;
  output.retry_limit = options.retry_limit;
  for (const auto& packet : packets) {
    AdmissionOutcome& outcome = outcomes.at(item_key(packet.hadm_id));
    if (outcome.status == "pending" && summary.engine->models.at(0).fatal_error) {
      outcome.error = *summary.engine->models.at(0).fatal_error;
    }
    ConversationAdmission admission{packet.hadm_id, outcome.status, outcome.error, 0, outcome.cached};
    if (outcome.status == "done") {
      admission.turns = static_cast<std::int64_t>(outcome.conversation.at("turns").size());
      summary.admissions_done++;
    } else if (outcome.status == "failed") {
      summary.admissions_failed++;
    } else {
      summary.admissions_pending++;
    }
    summary.admissions.push_back(admission);
    output.admissions.push_back(std::move(outcome));
  }
  summary.patient_dir = conversation_detail::write_patient_folder(db, options.output_dir, output);
  return summary;
}

}  // namespace medcode::dataset
