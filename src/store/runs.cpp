// Run bookkeeping: what ran, with which arguments (secrets redacted), how it ended, what it counted.
#include "medcode/store/runs.h"

#include <array>

#include "medcode/store/database.h"
#include "medcode/util/text.h"
#include "medcode/version.h"

namespace medcode::store {

namespace {

bool is_secret_option(std::string_view option) {
  static constexpr std::array<std::string_view, 6> k_markers = {"key", "token", "secret", "password",
                                                                "credential", "auth"};
  std::string lower = util::to_lower(option);
  for (std::string_view marker : k_markers) {
    if (lower.find(marker) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> redact_arguments(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  bool redact_next = false;
  for (const std::string& arg : argv) {
    if (redact_next) {
      out.emplace_back("***");
      redact_next = false;
      continue;
    }
    if (arg.rfind("--", 0) == 0) {
      std::size_t equals = arg.find('=');
      std::string_view name = std::string_view(arg).substr(0, equals);
      if (is_secret_option(name)) {
        if (equals == std::string::npos) {
          redact_next = true;
          out.push_back(arg);
        } else {
          out.push_back(std::string(name) + "=***");
        }
        continue;
      }
    }
    out.push_back(arg);
  }
  return out;
}

RunRecorder::RunRecorder(Database& db, std::string command, const std::vector<std::string>& argv) : m_db(db) {
  Statement insert = m_db.prepare(
      "INSERT INTO runs (command, argv, version, started_at, status) VALUES (?, ?, ?, ?, 'running')");
  insert.bind_all(command, nlohmann::json(redact_arguments(argv)).dump(), std::string(k_version),
                  util::utc_now_iso8601());
  insert.run();
  m_id = m_db.last_insert_rowid();
}

void RunRecorder::finish() {
  Statement update = m_db.prepare(
      "UPDATE runs SET status = 'ok', exit_code = 0, finished_at = ?, counters = ? WHERE id = ?");
  update.bind_all(util::utc_now_iso8601(), m_counters.dump(), m_id);
  update.run();
  m_closed = true;
}

void RunRecorder::fail(int exit_code, std::string_view error) {
  if (m_closed) return;
  Statement update = m_db.prepare(
      "UPDATE runs SET status = 'failed', exit_code = ?, error = ?, finished_at = ?, counters = ? WHERE id = ?");
  update.bind_all(exit_code, error, util::utc_now_iso8601(), m_counters.dump(), m_id);
  update.run();
  m_closed = true;
}

void record_metric(Database& db, std::int64_t run_id, std::string_view name, double value,
                   const nlohmann::json& labels) {
  Statement insert =
      db.prepare("INSERT INTO metrics (run_id, name, value, labels, recorded_at) VALUES (?, ?, ?, ?, ?)");
  insert.bind_all(run_id, name, value, labels.dump(), util::utc_now_iso8601());
  insert.run();
}

}  // namespace medcode::store
