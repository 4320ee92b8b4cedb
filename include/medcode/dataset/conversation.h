// `medcode generate --task conversation`: for each admission of one MIMIC patient, its EHR packet goes to a
// model (one admission per request, through the engine) and comes back as a validated doctor–patient
// conversation, written with its provenance under <output_dir>/<subject_id>/ (docs/generate.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "medcode/dataset/conversation_task.h"
#include "medcode/llm/engine.h"
#include "medcode/llm/model_config.h"
#include "medcode/mimic/packet.h"
#include "medcode/store/database.h"

namespace medcode::dataset {

struct ConversationOptions {
  mimic::PacketOptions packets;     // the subject, its admissions and the row caps
  std::vector<std::string> models;  // exactly one configured model
  std::filesystem::path output_dir = "conversations";
  ConversationRules rules;
  int retry_limit = 2;  // repair prompts after an answer that breaks the rules
  std::optional<double> max_cost_usd;
  bool use_cache = true;
  bool dry_run = false;  // plan only: nothing sent, nothing written
  std::optional<std::filesystem::path> prompts_dir;
  std::optional<std::int64_t> run_id;
  std::optional<std::uint64_t> engine_seed;
  std::function<void(const llm::EngineProgress&)> engine_progress;
};

struct ConversationAdmission {
  std::int64_t hadm_id = 0;
  std::string status;  // done | failed | pending (left by the budget or a stopped model)
  std::optional<std::string> error;
  std::int64_t turns = 0;
  bool cached = false;
};

struct ConversationSummary {
  std::int64_t subject_id = 0;
  std::string model;
  std::filesystem::path patient_dir;  // <output_dir>/<subject_id>; empty on a dry run
  std::vector<ConversationAdmission> admissions;
  std::int64_t admissions_done = 0;
  std::int64_t admissions_failed = 0;   // no valid answer after every repair, or the request failed
  std::int64_t admissions_pending = 0;  // not attempted (budget, stopped model)
  std::optional<llm::EngineResult> engine;
  std::vector<llm::ModelPlan> plans;  // dry run
};

// Error(usage) for not exactly one model, a retry limit below 0 or bad turn limits; Error(policy) when the
// model is not phi_allowed (before anything is sent); Error(bad_input) for an unknown subject or admission
// and for a subject with no admission to write about. Provider failures and invalid answers are in the
// summary; the patient folder is written either way and replaces the previous one in one rename.
ConversationSummary generate_conversations(store::Database& db, const llm::ModelRegistry& registry,
                                           const ConversationOptions& options);

}  // namespace medcode::dataset
