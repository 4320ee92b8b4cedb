// The runs table (one row per stage invocation) and the metrics the report draws.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::store {

class Database;

// Replaces the values of secret-looking options (--api-key X, --token=X, ...) with "***".
std::vector<std::string> redact_arguments(const std::vector<std::string>& argv);

struct InterruptedWork {
  std::int64_t runs = 0;      // runs marked 'interrupted'
  std::int64_t requests = 0;  // LLM requests marked 'interrupted'
};

// Marks what processes that died left behind: runs of this machine still 'running' whose pid is gone become
// 'interrupted' (with the pid and when it was found), and requests and attempts left 'in_flight' by a run
// that is over become 'interrupted'. Every recorded run starts with it.
InterruptedWork mark_interrupted(Database& db);

// Records a run: inserted as 'running' on start(), closed by finish() or fail().
class RunRecorder {
 public:
  RunRecorder(Database& db, std::string command, const std::vector<std::string>& argv);
  std::int64_t id() const { return m_id; }
  nlohmann::json& counters() { return m_counters; }
  void finish();
  void fail(int exit_code, std::string_view error);

 private:
  Database& m_db;
  std::int64_t m_id = 0;
  nlohmann::json m_counters = nlohmann::json::object();
  bool m_closed = false;
};

void record_metric(Database& db, std::int64_t run_id, std::string_view name, double value,
                   const nlohmann::json& labels = nlohmann::json::object());

}  // namespace medcode::store
