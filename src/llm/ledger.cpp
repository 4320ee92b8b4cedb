// Ledger rows in llm_requests, written through prepared statements; keys are SHA-256 of canonical JSON.
#include "medcode/llm/ledger.h"

#include "medcode/util/hash.h"
#include "medcode/util/text.h"

namespace medcode::llm {

nlohmann::json prompt_json(const ChatRequest& request) {
  nlohmann::json messages = nlohmann::json::array();
  for (const auto& message : request.messages) {
    messages.push_back({{"role", message.role}, {"content", message.content}});
  }
  nlohmann::json prompt = {{"system", request.system}, {"messages", messages}};
  if (request.schema) prompt["schema"] = *request.schema;
  return prompt;
}

std::string request_key(ProviderKind provider, const nlohmann::json& cache_params, const ChatRequest& request,
                        const std::string& salt) {
  // nlohmann::json objects are ordered by key, so dump() is canonical.
  nlohmann::json material = {
      {"provider", provider_name(provider)}, {"params", cache_params}, {"prompt", prompt_json(request)}};
  if (!salt.empty()) material["salt"] = salt;
  return util::sha256_hex(material.dump());
}

Ledger::Ledger(store::Database& db) : m_db(db) {}

std::optional<CachedAnswer> Ledger::find_done(const std::string& key) {
  // The request itself when it is done; when its answer was invalid, the newest done repair that followed
  // it (so a run after a repaired answer pays for neither the first request nor the repair again).
  auto statement = m_db.prepare(
      "WITH RECURSIVE chain (id, status) AS ("
      "  SELECT id, status FROM llm_requests WHERE request_key = ?"
      "  UNION ALL SELECT r.id, r.status FROM llm_requests r JOIN chain c ON r.repair_of = c.id"
      "  WHERE c.status = 'invalid') "
      "SELECT id, answer, tokens_in, tokens_out, tokens_cached, usage_estimated, cost_usd FROM llm_requests "
      "WHERE id IN (SELECT id FROM chain WHERE status = 'done') ORDER BY id DESC LIMIT 1");
  statement.bind(1, key);
  if (!statement.step()) return std::nullopt;
  CachedAnswer cached;
  cached.id = statement.column_int64(0);
  cached.answer = statement.column_optional_text(1).value_or("");
  cached.usage.input_tokens = statement.column_int64(2);
  cached.usage.output_tokens = statement.column_int64(3);
  cached.usage.cached_input_tokens = statement.column_int64(4);
  cached.usage.estimated = statement.column_int64(5) != 0;
  cached.cost_usd = statement.column_double(6);
  return cached;
}

std::int64_t Ledger::start(const RequestStart& start) {
  auto statement = m_db.prepare(
      "INSERT INTO llm_requests (request_key, model, provider, model_id, task, status, attempts, repair_of, "
      "n_items, prompt, params, run_id, created_at) VALUES (?, ?, ?, ?, ?, 'in_flight', 1, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (request_key) DO UPDATE SET status = 'in_flight', attempts = attempts + 1, "
      "run_id = excluded.run_id, error = NULL, finished_at = NULL RETURNING id");
  statement.bind_all(start.key, start.model, std::string(provider_name(start.provider)), start.model_id,
                     start.task, start.repair_of, start.n_items, start.prompt.dump(), start.params.dump(),
                     start.run_id, util::utc_now_iso8601());
  statement.step();
  std::int64_t id = statement.column_int64(0);
  statement.reset();
  return id;
}

void Ledger::note_attempt_failure(std::int64_t id, std::optional<int> http_status, const std::string& error) {
  auto statement = m_db.prepare("UPDATE llm_requests SET http_status = ?, error = ? WHERE id = ?");
  statement.bind_all(http_status, error, id);
  statement.run();
}

void Ledger::finish(std::int64_t id, const RequestFinish& finish) {
  auto statement = m_db.prepare(
      "UPDATE llm_requests SET status = ?, response = ?, answer = ?, http_status = ?, tokens_in = ?, "
      "tokens_out = ?, tokens_cached = ?, usage_estimated = ?, cost_usd = ?, latency_ms = ?, error = ?, "
      "finished_at = ? WHERE id = ?");
  statement.bind_all(finish.status, finish.response, finish.answer, finish.http_status,
                     finish.usage.input_tokens, finish.usage.output_tokens, finish.usage.cached_input_tokens,
                     static_cast<int>(finish.usage.estimated), finish.cost_usd, finish.latency_ms,
                     finish.error, util::utc_now_iso8601(), id);
  statement.run();
}

}  // namespace medcode::llm
