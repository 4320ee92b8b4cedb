// The files of a conversation run: per admission the packet, its inputs, the prompt, the model call and its
// raw output, the turns and a summary; per patient the details, the whole conversation, the notes outside
// its admissions and a manifest.
// Internal to the conversation task.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medcode/dataset/conversation_task.h"
#include "medcode/llm/model_config.h"
#include "medcode/llm/wire_format.h"
#include "medcode/mimic/packet.h"
#include "medcode/store/database.h"

namespace medcode::dataset::conversation_detail {

struct AdmissionOutcome {
  const mimic::Packet* packet = nullptr;
  llm::ChatRequest prompt;                 // as rendered for the model
  std::string status;                      // done | failed | pending
  std::optional<std::string> error;        // failed: why
  nlohmann::json conversation;             // done: {"turns": [...]}
  std::optional<std::int64_t> request_id;  // done: the ledger row holding the answer
  bool cached = false;                     // done: answered from the ledger
};

struct PatientOutput {
  std::int64_t subject_id = 0;
  std::string source;  // mimic-iv | mimic-iii
  const llm::ModelConfig* model = nullptr;
  const ConversationTask* task = nullptr;
  int retry_limit = 0;
  std::vector<AdmissionOutcome> admissions;  // in admission order
};

// Builds <output_dir>/<subject_id> in a temporary sibling folder and swaps it into place; returns its path.
std::filesystem::path write_patient_folder(store::Database& db, const std::filesystem::path& output_dir,
                                           const PatientOutput& output);

}  // namespace medcode::dataset::conversation_detail
