// The LLM ledger: one row per logical request, keyed by a hash of (provider, model, parameters, prompt). It
// is the cache (a finished request is never sent again) and the resume point (a request killed in flight is
// sent again; one that finished is not).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "medcode/llm/model_config.h"
#include "medcode/llm/wire_format.h"
#include "medcode/store/database.h"

namespace medcode::llm {

// The ledger key: sha256 hex of the provider, the cache parameters and the prompt.
std::string request_key(ProviderKind provider, const nlohmann::json& cache_params, const ChatRequest& request,
                        const std::string& salt = {});

// The prompt as stored: {"system", "messages", "schema"}.
nlohmann::json prompt_json(const ChatRequest& request);

struct RequestStart {
  std::string key;
  std::string model;  // configured name
  ProviderKind provider = ProviderKind::openai;
  std::string model_id;
  std::string task;
  std::int64_t n_items = 0;
  nlohmann::json prompt;
  nlohmann::json params;
  std::optional<std::int64_t> repair_of;
  std::optional<std::int64_t> run_id;
};

struct RequestFinish {
  std::string status;  // done | invalid | failed
  std::optional<std::string> response;
  std::optional<std::string> answer;
  std::optional<int> http_status;
  Usage usage;
  double cost_usd = 0;
  std::optional<double> latency_ms;
  std::optional<std::string> error;
};

struct CachedAnswer {
  std::int64_t id = 0;
  std::string answer;
  Usage usage;
  double cost_usd = 0;
};

class Ledger {
 public:
  explicit Ledger(store::Database& db);

  // The finished ('done') request with this key, or the done repair of it when its own answer was invalid.
  std::optional<CachedAnswer> find_done(const std::string& key);
  // Marks the request in flight before it is sent (a new row, or one more attempt of an unfinished one);
  // committed at once so that a killed run knows the request may have been sent. Returns the row id.
  std::int64_t start(const RequestStart& start);
  // An attempt that failed and will be retried: notes the status and error, stays in flight.
  void note_attempt_failure(std::int64_t id, std::optional<int> http_status, const std::string& error);
  // Closes the request. The caller holds the transaction that also stores what the answer produced.
  void finish(std::int64_t id, const RequestFinish& finish);

 private:
  store::Database& m_db;
};

}  // namespace medcode::llm
