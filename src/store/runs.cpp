// Run bookkeeping: what ran, with which arguments (secrets redacted), how it ended, what it counted.
#include "medcode/store/runs.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <limits>

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

namespace {

std::string host_name() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "";
  return name.data();
}

bool process_alive(std::int64_t pid) {
  if (pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

InterruptedWork mark_interrupted(Database& db) {
  InterruptedWork found;
  std::string host = host_name();
  std::vector<std::int64_t> dead;
  std::vector<std::int64_t> pids;
  {
    // Only runs of this machine can be checked; a run without a pid predates the column.
    Statement running =
        db.prepare("SELECT id, pid FROM runs WHERE status = 'running' AND pid IS NOT NULL AND host = ?");
    running.bind(1, host);
    while (running.step()) {
      std::int64_t pid = running.column_int64(1);
      if (pid != static_cast<std::int64_t>(::getpid()) && !process_alive(pid)) {
        dead.push_back(running.column_int64(0));
        pids.push_back(pid);
      }
    }
  }
  Transaction transaction(db);
  std::string now = util::utc_now_iso8601();
  Statement close_run = db.prepare(
      "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? WHERE id = ? AND status = 'running'");
  for (std::size_t i = 0; i < dead.size(); ++i) {
    close_run.bind_all(now, fmt::format("process {} ended without closing the run (found at {})", pids[i], now),
                       dead[i]);
    close_run.run();
    found.runs += db.changes();
  }
  // Requests and attempts in flight for a run that is over (found dead now, or closed by a process that
  // failed before the request came back) were cut off; they are sent again when their job resumes.
  Statement requests = db.prepare(
      "UPDATE llm_requests SET status = 'interrupted', finished_at = ?, "
      "error = 'the process ended while the request was in flight' WHERE status = 'in_flight' AND run_id IN "
      "(SELECT id FROM runs WHERE status <> 'running')");
  requests.bind(1, now);
  requests.run();
  found.requests = db.changes();
  Statement attempts = db.prepare(
      "UPDATE llm_attempts SET status = 'interrupted', finished_at = ?, "
      "error = 'the process ended while the attempt was in flight' WHERE status = 'in_flight' AND run_id IN "
      "(SELECT id FROM runs WHERE status <> 'running')");
  attempts.bind(1, now);
  attempts.run();
  transaction.commit();
  if (found.runs > 0 || found.requests > 0)
    spdlog::warn("store: {} run(s) of processes that died marked interrupted, with {} request(s) in flight",
                 found.runs, found.requests);
  return found;
}

RunRecorder::RunRecorder(Database& db, std::string command, const std::vector<std::string>& argv) : m_db(db) {
  if (m_db.read_only()) {  // reading commands still work; there is nowhere to record the run
    spdlog::debug("{}: read-only store; this run is not recorded", m_db.path().string());
    m_closed = true;
    return;
  }
  mark_interrupted(m_db);
  Statement insert = m_db.prepare(
      "INSERT INTO runs (command, argv, version, started_at, status, pid, host) "
      "VALUES (?, ?, ?, ?, 'running', ?, ?)");
  insert.bind_all(command, nlohmann::json(redact_arguments(argv)).dump(), std::string(k_version),
                  util::utc_now_iso8601(), static_cast<std::int64_t>(::getpid()), host_name());
  insert.run();
  m_id = m_db.last_insert_rowid();
}

void RunRecorder::finish() {
  if (m_closed) return;
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
