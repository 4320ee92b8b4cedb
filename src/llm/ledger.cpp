// Ledger rows in llm_requests, written through prepared statements; keys are SHA-256 of canonical JSON.
#include "medcode/llm/ledger.h"

#include <sqlite3.h>

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

namespace {

CachedAnswer read_cached(store::Statement& statement) {
  CachedAnswer cached;
  cached.id = statement.column_int64(0);
  cached.answer = statement.column_optional_text(3).value_or("");
  cached.usage.input_tokens = statement.column_int64(5);
  cached.usage.output_tokens = statement.column_int64(6);
  cached.usage.cached_input_tokens = statement.column_int64(7);
  cached.usage.estimated = statement.column_int64(8) != 0;
  cached.cost_usd = statement.column_double(9);
  return cached;
}

constexpr const char* k_resume_columns =
    "SELECT id, status, repair_of, answer, error, tokens_in, tokens_out, tokens_cached, usage_estimated, "
    "cost_usd FROM llm_requests ";

}  // namespace

ResumePoint Ledger::resume(const std::string& key) {
  ResumePoint point;
  auto by_key = m_db.prepare(std::string(k_resume_columns) + "WHERE request_key = ?");
  // Of the repairs of one answer, a done one first, then the newest.
  auto repair = m_db.prepare(std::string(k_resume_columns) +
                             "WHERE repair_of = ? ORDER BY status = 'done' DESC, id DESC LIMIT 1");
  by_key.bind(1, key);
  store::Statement* row = &by_key;
  while (row->step()) {
    std::string status = row->column_text(1);
    if (status == "done") {
      point.done = read_cached(*row);
      break;
    }
    if ((status != "invalid" && status != "truncated") || row->column_is_null(3)) break;
    std::int64_t id = row->column_int64(0);
    point.chain.push_back({id, status, row->column_text(3), row->column_optional_text(4).value_or("")});
    repair.reset();
    repair.bind(1, id);
    row = &repair;
  }
  return point;
}

std::optional<CachedAnswer> Ledger::find_done(const std::string& key) { return resume(key).done; }

AttemptId Ledger::start(const RequestStart& start) {
  store::Transaction transaction(m_db);
  auto request = m_db.prepare(
      "INSERT INTO llm_requests (request_key, model, provider, model_id, task, status, attempts, repair_of, "
      "n_items, prompt, params, run_id, created_at) VALUES (?, ?, ?, ?, ?, 'in_flight', 1, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (request_key) DO UPDATE SET status = 'in_flight', attempts = attempts + 1, "
      "run_id = excluded.run_id, error = NULL, finished_at = NULL RETURNING id, attempts");
  std::string now = util::utc_now_iso8601();
  request.bind_all(start.key, start.model, std::string(provider_name(start.provider)), start.model_id,
                   start.task, start.repair_of, start.n_items, start.prompt.dump(), start.params.dump(),
                   start.run_id, now);
  request.step();
  AttemptId id;
  id.request = request.column_int64(0);
  std::int64_t number = request.column_int64(1);
  request.reset();
  auto attempt = m_db.prepare(
      "INSERT INTO llm_attempts (request_id, attempt, run_id, status, reserved_usd, started_at) "
      "VALUES (?, ?, ?, 'in_flight', ?, ?)");
  attempt.bind_all(id.request, number, start.run_id, start.reserved_usd, now);
  attempt.run();
  id.attempt = m_db.last_insert_rowid();
  transaction.commit();
  return id;
}

void Ledger::note_attempt_failure(const AttemptId& id, std::optional<int> http_status, const std::string& error,
                                  bool lost) {
  std::optional<store::Transaction> transaction;
  if (sqlite3_get_autocommit(m_db.handle())) transaction.emplace(m_db);
  auto attempt = m_db.prepare(
      "UPDATE llm_attempts SET status = ?, http_status = ?, error = ?, finished_at = ? WHERE id = ?");
  attempt.bind_all(std::string(lost ? "lost" : "failed"), http_status, error, util::utc_now_iso8601(),
                   id.attempt);
  attempt.run();
  auto request = m_db.prepare("UPDATE llm_requests SET http_status = ?, error = ? WHERE id = ?");
  request.bind_all(http_status, error, id.request);
  request.run();
  if (transaction) transaction->commit();
}

void Ledger::finish(const AttemptId& id, const RequestFinish& finish) {
  std::optional<store::Transaction> transaction;
  if (sqlite3_get_autocommit(m_db.handle())) transaction.emplace(m_db);
  std::string now = util::utc_now_iso8601();
  auto attempt = m_db.prepare(
      "UPDATE llm_attempts SET status = ?, response = ?, http_status = ?, tokens_in = ?, tokens_out = ?, "
      "tokens_cached = ?, usage_estimated = ?, cost_usd = ?, latency_ms = ?, error = ?, finished_at = ? "
      "WHERE id = ?");
  attempt.bind_all(finish.lost ? std::string("lost") : finish.status, finish.response, finish.http_status,
                   finish.usage.input_tokens, finish.usage.output_tokens, finish.usage.cached_input_tokens,
                   static_cast<int>(finish.usage.estimated), finish.cost_usd, finish.latency_ms, finish.error,
                   now, id.attempt);
  attempt.run();
  auto request = m_db.prepare(
      "UPDATE llm_requests SET status = ?, answer = coalesce(?, answer), http_status = ?, latency_ms = ?, "
      "error = ?, finished_at = ?, (tokens_in, tokens_out, tokens_cached, usage_estimated, cost_usd) = "
      "(SELECT total(tokens_in), total(tokens_out), total(tokens_cached), max(usage_estimated), "
      "total(cost_usd) FROM llm_attempts WHERE request_id = ?) WHERE id = ?");
  request.bind_all(finish.status, finish.answer, finish.http_status, finish.latency_ms, finish.error, now,
                   id.request, id.request);
  request.run();
  if (transaction) transaction->commit();
}

}  // namespace medcode::llm
