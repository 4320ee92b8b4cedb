// Writing a patient's conversation folder: every file is built in a temporary sibling folder, which then
// replaces <output_dir>/<subject_id> whole; model calls are read back from the ledger (never a key).
#include "conversation_files.h"

#include <fmt/format.h>
#include <unistd.h>

#include "medcode/llm/ledger.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"
#include "medcode/version.h"

namespace medcode::dataset::conversation_detail {

namespace {

namespace fs = std::filesystem;

std::string json_text(const nlohmann::json& value) { return value.dump(2) + "\n"; }

void write_text(const fs::path& path, const std::string& text) { util::write_file_atomic(path, text); }

std::int64_t count_words(const std::string& text) {
  std::int64_t words = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in_word) words++;
    in_word = !space;
  }
  return words;
}

// The ledger rows that led to `request_id`: the first request, then each repair, in order.
std::vector<nlohmann::json> request_chain(store::Database& db, std::int64_t request_id) {
  auto select = db.prepare(
      "WITH RECURSIVE up (id) AS (SELECT ? UNION ALL SELECT r.repair_of FROM llm_requests r JOIN up ON r.id "
      "= "
      "up.id WHERE r.repair_of IS NOT NULL) "
      "SELECT json_object('request_id', id, 'status', status, 'attempts', attempts, 'http_status', "
      "http_status, "
      "'tokens_in', tokens_in, 'tokens_out', tokens_out, 'usage_estimated', usage_estimated, 'cost_usd', "
      "cost_usd, 'latency_ms', latency_ms, 'error', error, 'run_id', run_id), answer "
      "FROM llm_requests WHERE id IN (SELECT id FROM up) ORDER BY id");
  select.bind(1, request_id);
  std::vector<nlohmann::json> chain;
  while (select.step()) {
    nlohmann::json row = nlohmann::json::parse(select.column_text(0));
    row["answer"] =
        select.column_is_null(1) ? nlohmann::json(nullptr) : nlohmann::json(select.column_text(1));
    chain.push_back(std::move(row));
  }
  return chain;
}

// The newest ledger row for this prompt and model (the last answer of an admission that never validated).
std::optional<std::int64_t> last_request(store::Database& db, const llm::ModelConfig& model,
                                         const llm::ChatRequest& prompt) {
  auto select = db.prepare(
      "SELECT id FROM llm_requests WHERE model = ? AND task = ? AND json_extract(prompt, '$.system') = ? AND "
      "json_extract(prompt, '$.messages[0].content') = ? ORDER BY id DESC LIMIT 1");
  select.bind_all(model.name, prompt.schema_name, prompt.system, prompt.messages.at(0).content);
  if (!select.step()) return std::nullopt;
  return select.column_int64(0);
}

struct CallRecords {
  nlohmann::json call = nullptr;  // model_call_record.json
  nlohmann::json raw = nullptr;   // raw_model_output.json
};

CallRecords call_records(store::Database& db, const PatientOutput& output, const AdmissionOutcome& outcome) {
  std::optional<std::int64_t> request_id = outcome.request_id;
  if (!request_id) request_id = last_request(db, *output.model, outcome.prompt);
  if (!request_id) return {};
  std::vector<nlohmann::json> chain = request_chain(db, *request_id);
  CallRecords records;
  nlohmann::json requests = nlohmann::json::array();
  nlohmann::json answers = nlohmann::json::array();
  std::int64_t attempts = 0, tokens_in = 0, tokens_out = 0;
  double cost = 0, latency = 0;
  for (auto& row : chain) {
    attempts += row.value("attempts", std::int64_t{0});
    tokens_in += row.value("tokens_in", std::int64_t{0});
    tokens_out += row.value("tokens_out", std::int64_t{0});
    cost += row.value("cost_usd", 0.0);
    if (row["latency_ms"].is_number()) latency += row["latency_ms"].get<double>();
    answers.push_back(
        {{"request_id", row["request_id"]}, {"status", row["status"]}, {"answer", row["answer"]}});
    row.erase("answer");
    requests.push_back(row);
  }
  const llm::ModelConfig& model = *output.model;
  records.call = {{"model", model.name},
                  {"provider", llm::provider_name(model.provider)},
                  {"model_id", model.model_id},
                  {"base_url", model.base_url},
                  {"request_id", *request_id},
                  {"status", chain.empty() ? nlohmann::json(nullptr) : chain.back()["status"]},
                  {"cached", outcome.cached},
                  {"attempts", attempts},
                  {"repairs", chain.empty() ? 0 : static_cast<std::int64_t>(chain.size()) - 1},
                  {"retry_limit", output.retry_limit},
                  {"tokens_in", tokens_in},
                  {"tokens_out", tokens_out},
                  {"cost_usd", cost},
                  {"cost_usd_this_run", outcome.cached ? 0.0 : cost},
                  {"latency_ms", latency},
                  {"requests", requests}};
  records.raw = {{"request_id", *request_id},
                 {"answer", answers.empty() ? nlohmann::json(nullptr) : answers.back()["answer"]},
                 {"answers", answers}};
  return records;
}

nlohmann::json prompt_record(const PatientOutput& output, const AdmissionOutcome& outcome) {
  const PromptTemplate& prompt = output.task->prompt();
  nlohmann::json rendered = llm::prompt_json(outcome.prompt);
  return {{"template", prompt.name},
          {"template_version", prompt.version},
          {"template_origin", prompt.origin},
          {"template_sha256", util::sha256_hex(prompt.system + "\n" + prompt.user + "\n" + prompt.repair +
                                               "\n" + prompt.schema.dump())},
          {"system", outcome.prompt.system},
          {"user", outcome.prompt.messages.at(0).content},
          {"schema", prompt.schema},
          {"min_turns", output.task->rules().min_turns},
          {"max_turns", output.task->rules().max_turns},
          {"sha256", util::sha256_hex(rendered.dump())}};
}

nlohmann::json turn_summary(const AdmissionOutcome& outcome, const ConversationTask& task) {
  nlohmann::json by_speaker = {{"doctor", 0}, {"patient", 0}};
  nlohmann::json words = {{"doctor", 0}, {"patient", 0}, {"total", 0}};
  if (outcome.status == "done") {
    for (const auto& turn : outcome.conversation.at("turns")) {
      std::string speaker = turn.at("speaker");
      std::int64_t n = count_words(turn.at("text").get<std::string>());
      by_speaker[speaker] = by_speaker[speaker].get<std::int64_t>() + 1;
      words[speaker] = words[speaker].get<std::int64_t>() + n;
      words["total"] = words["total"].get<std::int64_t>() + n;
    }
  }
  nlohmann::json validation = {{"outcome", outcome.status == "done" ? "valid" : outcome.status},
                               {"rules",
                                {{"speakers", {"doctor", "patient"}},
                                 {"first_speaker", "doctor"},
                                 {"alternating", true},
                                 {"min_turns", task.rules().min_turns},
                                 {"max_turns", task.rules().max_turns},
                                 {"non_empty_text", true}}}};
  if (outcome.error) validation["error"] = *outcome.error;
  return {{"subject_id", outcome.packet->subject_id},
          {"hadm_id", outcome.packet->hadm_id},
          {"status", outcome.status},
          {"turns", outcome.status == "done" ? outcome.conversation.at("turns").size() : 0},
          {"turns_by_speaker", by_speaker},
          {"words", words},
          {"validation", validation}};
}

// Writes one admission's folder; returns its manifest entry.
nlohmann::json write_admission(store::Database& db, const fs::path& dir, const PatientOutput& output,
                               const AdmissionOutcome& outcome, nlohmann::json& totals) {
  const mimic::Packet& packet = *outcome.packet;
  fs::create_directories(dir);
  std::string packet_text = json_text(packet.json);
  write_text(dir / "packet.json", packet_text);
  write_text(dir / "input_data_manifest.json", json_text({{"subject_id", packet.subject_id},
                                                          {"hadm_id", packet.hadm_id},
                                                          {"source", output.source},
                                                          {"packet_format", packet.json.value("format", "")},
                                                          {"packet_sha256", util::sha256_hex(packet_text)},
                                                          {"row_counts", packet.json.at("row_counts")},
                                                          {"inputs", mimic::packet_inputs(packet.json)}}));
  write_text(dir / "prompt_record.json", json_text(prompt_record(output, outcome)));
  std::vector<std::string> files = {"packet.json", "input_data_manifest.json", "prompt_record.json"};

  CallRecords records = call_records(db, output, outcome);
  if (!records.call.is_null()) {
    write_text(dir / "model_call_record.json", json_text(records.call));
    write_text(dir / "raw_model_output.json", json_text(records.raw));
    files.insert(files.end(), {"model_call_record.json", "raw_model_output.json"});
    totals["requests"] = totals["requests"].get<std::int64_t>() + records.call["requests"].size();
    totals["tokens_in"] =
        totals["tokens_in"].get<std::int64_t>() + records.call["tokens_in"].get<std::int64_t>();
    totals["tokens_out"] =
        totals["tokens_out"].get<std::int64_t>() + records.call["tokens_out"].get<std::int64_t>();
    totals["cost_usd"] = totals["cost_usd"].get<double>() + records.call["cost_usd"].get<double>();
  }
  if (outcome.status == "done") {
    std::string lines;
    std::size_t index = 0;
    for (const auto& turn : outcome.conversation.at("turns")) {
      lines += nlohmann::json{{"index", index++}, {"speaker", turn.at("speaker")}, {"text", turn.at("text")}}
                   .dump() +
               "\n";
    }
    write_text(dir / "conversation.jsonl", lines);
    files.push_back("conversation.jsonl");
  }
  nlohmann::json summary = turn_summary(outcome, *output.task);
  write_text(dir / "summary.json", json_text(summary));
  files.push_back("summary.json");

  nlohmann::json entry = {
      {"hadm_id", packet.hadm_id},
      {"admittime", packet.admittime ? nlohmann::json(*packet.admittime) : nlohmann::json()},
      {"status", outcome.status},
      {"cached", outcome.cached},
      {"turns", summary["turns"]},
      {"folder", std::to_string(packet.hadm_id)},
      {"files", files}};
  if (outcome.error) entry["error"] = *outcome.error;
  if (outcome.request_id) entry["request_id"] = *outcome.request_id;
  return entry;
}

// The patient's notes that no admission of the folder holds, with why, so that a reader of the folder knows
// what of the record the conversations did not see.
nlohmann::json unlinked_notes_json(store::Database& db, const PatientOutput& output) {
  std::vector<std::int64_t> hadm_ids;
  for (const auto& outcome : output.admissions) hadm_ids.push_back(outcome.packet->hadm_id);
  mimic::Source source = mimic::parse_source(output.source).value_or(mimic::Source::mimic_iv);
  nlohmann::json notes = nlohmann::json::array();
  for (const mimic::UnlinkedNote& note : mimic::unlinked_notes(db, source, output.subject_id, hadm_ids)) {
    notes.push_back(
        {{"note_id", note.note_id},
         {"hadm_id", note.hadm_id ? nlohmann::json(*note.hadm_id) : nlohmann::json(nullptr)},
         {"note_type", note.note_type ? nlohmann::json(*note.note_type) : nlohmann::json(nullptr)},
         {"charttime", note.charttime ? nlohmann::json(*note.charttime) : nlohmann::json(nullptr)},
         {"text_length", note.text_length},
         {"table", note.table},
         {"reason", note.reason}});
  }
  return notes;
}

}  // namespace

fs::path write_patient_folder(store::Database& db, const fs::path& output_dir, const PatientOutput& output) {
  std::string subject = std::to_string(output.subject_id);
  fs::path target = output_dir / subject;
  fs::path building = output_dir / fmt::format(".{}.building-{}", subject, ::getpid());
  fs::create_directories(output_dir);
  fs::remove_all(building);
  fs::create_directories(building);

  nlohmann::json totals = {{"admissions", output.admissions.size()},
                           {"done", 0},
                           {"failed", 0},
                           {"pending", 0},
                           {"turns", 0},
                           {"requests", 0},
                           {"tokens_in", 0},
                           {"tokens_out", 0},
                           {"cost_usd", 0.0}};
  nlohmann::json admissions = nlohmann::json::array();
  std::string details;
  nlohmann::json all_turns = nlohmann::json::array();
  for (const auto& outcome : output.admissions) {
    nlohmann::json entry =
        write_admission(db, building / std::to_string(outcome.packet->hadm_id), output, outcome, totals);
    totals[outcome.status] = totals[outcome.status].get<std::int64_t>() + 1;
    totals["turns"] = totals["turns"].get<std::int64_t>() + entry["turns"].get<std::int64_t>();
    nlohmann::json turns =
        outcome.status == "done" ? outcome.conversation.at("turns") : nlohmann::json::array();
    details += nlohmann::json{{"hadm_id", entry["hadm_id"]},
                              {"admittime", entry["admittime"]},
                              {"status", outcome.status},
                              {"turns", turns}}
                   .dump() +
               "\n";
    for (const auto& turn : turns) {
      all_turns.push_back(
          {{"hadm_id", outcome.packet->hadm_id}, {"speaker", turn.at("speaker")}, {"text", turn.at("text")}});
    }
    admissions.push_back(std::move(entry));
  }
  write_text(building / "conversation_details.jsonl", details);
  write_text(building / "conversation_only.json",
             json_text({{"subject_id", output.subject_id}, {"turns", all_turns}}));
  nlohmann::json unlinked = unlinked_notes_json(db, output);
  write_text(building / "unlinked_notes.json", json_text(unlinked));
  const llm::ModelConfig& model = *output.model;
  const PromptTemplate& prompt = output.task->prompt();
  std::vector<std::string> files = {"conversation_details.jsonl", "conversation_only.json",
                                    "unlinked_notes.json", "patient_manifest.json"};
  nlohmann::json manifest = {
      {"subject_id", output.subject_id},
      {"source", output.source},
      {"medcode_version", k_version},
      {"task", prompt.name},
      {"template_version", prompt.version},
      {"model",
       {{"name", model.name},
        {"provider", llm::provider_name(model.provider)},
        {"model_id", model.model_id}}},
      {"admissions", admissions},
      {"files", files},
      {"unlinked_notes", unlinked.size()},
      {"totals", totals},
  };
  write_text(building / "patient_manifest.json", json_text(manifest));
  util::replace_directory(building, target);
  return target;
}

}  // namespace medcode::dataset::conversation_detail
