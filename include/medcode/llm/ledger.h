// The LLM ledger: one row per logical request, keyed by a hash of (provider, model, parameters, prompt), and
// one row per attempt sent for it, so that every answer paid for is kept with its usage and cost. It is the
// cache (a finished request is never sent again) and the resume point (a request killed in flight is sent
// again; one that finished is not, and an invalid answer is repaired from where its repair chain stopped).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
  double reserved_usd = 0;  // what the budget holds for this attempt
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
  std::string status;  // done | invalid | truncated | failed
  std::optional<std::string> response;
  std::optional<std::string> answer;
  std::optional<int> http_status;
  Usage usage;
  double cost_usd = 0;
  std::optional<double> latency_ms;
  std::optional<std::string> error;
  bool lost = false;  // the answer may have been billed but could not be read
};

struct CachedAnswer {
  std::int64_t id = 0;
  std::string answer;
  Usage usage;
  double cost_usd = 0;
};

// One recorded answer on the way from a request to the answer the job keeps.
struct ChainLink {
  std::int64_t id = 0;
  std::string status;  // invalid | truncated
  std::string answer;
  std::string error;   // why the answer was refused: the repair prompt quotes it
};

// Where a request stands in the ledger: answered (done), or refused answers already paid for, in order (the
// request itself, then its repairs), to continue from; both empty when it must be sent.
struct ResumePoint {
  std::optional<CachedAnswer> done;
  std::vector<ChainLink> chain;
};

// The ids of one attempt: its request row and its attempt row.
struct AttemptId {
  std::int64_t request = 0;
  std::int64_t attempt = 0;
};

class Ledger {
 public:
  explicit Ledger(store::Database& db);

  // The finished ('done') request with this key, or the done repair of it when its own answer was invalid.
  std::optional<CachedAnswer> find_done(const std::string& key);
  // The done answer of the request with this key or of its repairs; otherwise the invalid answers of its
  // repair chain, from the request to the newest repair that has an answer.
  ResumePoint resume(const std::string& key);
  // Records an attempt before it is sent (a new request row, or one more attempt of a known one), committed
  // at once so that a killed run knows the attempt may have been sent.
  AttemptId start(const RequestStart& start);
  // An attempt that failed and will be retried (or given up by the caller). `lost` marks one whose answer
  // may have been produced and billed but could not be read (a timeout, a body cut off).
  void note_attempt_failure(const AttemptId& id, std::optional<int> http_status, const std::string& error,
                            bool lost = false);
  // Closes the attempt and its request (the request's tokens and cost become the sums of its attempts).
  // Joins the caller's transaction when there is one, which then also stores what the answer produced.
  void finish(const AttemptId& id, const RequestFinish& finish);

 private:
  store::Database& m_db;
};

}  // namespace medcode::llm
