// Tests of the store: migrations, identity checks, transactions and run records.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "medcode/store/database.h"
#include "medcode/store/job_lock.h"
#include "medcode/store/migrations.h"
#include "medcode/store/runs.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode::store {
namespace {

namespace fs = std::filesystem;
using medcode::testing::TempDir;

std::int64_t count(Database& db, const std::string& table) {
  Statement statement = db.prepare("SELECT count(*) FROM " + table);
  statement.step();
  return statement.column_int64(0);
}

// A store as medcode wrote it at schema `version`, with `rows` (SQL) added.
void write_old_store(const fs::path& path, int version, const std::string& rows) {
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  std::string sql = "PRAGMA foreign_keys = ON; BEGIN;";
  for (const Migration& migration : migrations()) {
    if (migration.version <= version) sql += std::string(migration.sql) + ";";
  }
  sql += rows + fmt::format("; PRAGMA application_id = {}; PRAGMA user_version = {}; COMMIT;", 0x4D444344, version);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(raw);
}

TEST(Database, UpgradeKeepsEveryLedgerRowAsAnAttemptAndMarksWhatWasLeftRunning) {
  TempDir dir;
  write_old_store(dir / "old.db", 6,
                  "INSERT INTO runs (id, command, argv, version, started_at, status) VALUES "
                  "(1, 'generate', '[]', '0.1.0', '2026-01-01T00:00:00Z', 'ok'), "
                  "(2, 'generate', '[]', '0.1.0', '2026-01-02T00:00:00Z', 'running');"
                  "INSERT INTO llm_requests (id, request_key, model, provider, model_id, task, status, attempts, "
                  "prompt, response, answer, tokens_in, tokens_out, cost_usd, run_id, created_at) VALUES "
                  "(1, 'a', 'm', 'openai', 'x', 'descriptions', 'done', 2, '{}', '{\"raw\":1}', 'text', 100, 50, "
                  "0.25, 1, '2026-01-01T00:00:01Z'), "
                  "(2, 'b', 'm', 'openai', 'x', 'descriptions', 'in_flight', 1, '{}', NULL, NULL, 0, 0, 0, 2, "
                  "'2026-01-02T00:00:01Z');"
                  "INSERT INTO generation_jobs (id, job_key, task, spec, created_at, run_id) VALUES "
                  "(1, 'j', 'descriptions', '{}', '2026-01-01T00:00:00Z', 1);"
                  "INSERT INTO generation_items (job_id, model, item_key, seq, status, request_id) VALUES "
                  "(1, 'm', 'E11.9', 0, 'done', 1)");
  Database db = Database::open(dir / "old.db");
  EXPECT_EQ(db.schema_version(), latest_schema_version());
  auto text = [&](const std::string& sql) {
    Statement statement = db.prepare(sql);
    return statement.step() ? statement.column_optional_text(0).value_or("NULL") : "no row";
  };
  EXPECT_EQ(text("SELECT group_concat(request_id || ':' || attempt || ':' || status || ':' || cost_usd, ' ') "
                 "FROM llm_attempts ORDER BY request_id"),
            "1:2:done:0.25 2:1:interrupted:0.0");
  EXPECT_EQ(text("SELECT response FROM llm_attempts WHERE request_id = 1"), "{\"raw\":1}");
  EXPECT_EQ(text("SELECT status || ' ' || cost_usd || ' ' || answer FROM llm_requests WHERE id = 1"),
            "done 0.25 text");
  EXPECT_EQ(text("SELECT status FROM llm_requests WHERE id = 2"), "interrupted");
  EXPECT_EQ(text("SELECT status FROM runs WHERE id = 2"), "interrupted");
  EXPECT_EQ(text("SELECT status FROM runs WHERE id = 1"), "ok");
  // References into the rebuilt tables still hold, and foreign keys are on again.
  EXPECT_EQ(text("SELECT request_id FROM generation_items"), "1");
  Statement check = db.prepare("PRAGMA foreign_key_check");
  EXPECT_FALSE(check.step());
  EXPECT_EQ(text("PRAGMA foreign_keys"), "1");
  db.exec("DELETE FROM runs WHERE id = 1");
  EXPECT_EQ(text("SELECT quote(run_id) FROM generation_jobs"), "NULL") << "ON DELETE SET NULL survives the rebuild";
}

TEST(Database, ARunLeftRunningByADeadProcessIsMarkedInterruptedWithItsRequestsInFlight) {
  TempDir dir;
  Database db = Database::open(dir / "m.db");
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ::waitpid(child, &status, 0);  // a pid that no process has now
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  Statement run = db.prepare(
      "INSERT INTO runs (command, argv, version, started_at, status, pid, host) VALUES "
      "('generate', '[]', '0.1.0', '2026-01-01T00:00:00Z', 'running', ?, ?)");
  run.bind_all(static_cast<std::int64_t>(child), std::string(host));
  run.run();
  run.bind_all(static_cast<std::int64_t>(::getpid()), std::string(host));  // alive: left alone
  run.run();
  db.exec(
      "INSERT INTO llm_requests (request_key, model, provider, model_id, task, status, prompt, run_id, created_at) "
      "VALUES ('k', 'm', 'openai', 'x', 'descriptions', 'in_flight', '{}', 1, '2026-01-01T00:00:01Z');"
      "INSERT INTO llm_attempts (request_id, attempt, run_id, status, started_at) VALUES "
      "(1, 1, 1, 'in_flight', '2026-01-01T00:00:01Z')");
  InterruptedWork found = mark_interrupted(db);
  EXPECT_EQ(found.runs, 1);
  EXPECT_EQ(found.requests, 1);
  Statement dead = db.prepare("SELECT status, error, finished_at FROM runs WHERE id = 1");
  ASSERT_TRUE(dead.step());
  EXPECT_EQ(dead.column_text(0), "interrupted");
  EXPECT_NE(dead.column_text(1).find(fmt::format("process {} ended", child)), std::string::npos);
  EXPECT_FALSE(dead.column_is_null(2));
  Statement alive = db.prepare("SELECT status FROM runs WHERE id = 2");
  ASSERT_TRUE(alive.step());
  EXPECT_EQ(alive.column_text(0), "running");
  Statement attempt = db.prepare("SELECT status FROM llm_attempts");
  ASSERT_TRUE(attempt.step());
  EXPECT_EQ(attempt.column_text(0), "interrupted");
  EXPECT_EQ(mark_interrupted(db).runs, 0);
}

TEST(Database, MigratesANewStoreToTheLatestSchemaInWalMode) {
  TempDir dir;
  Database db = Database::open(dir / "new.db");
  EXPECT_EQ(db.schema_version(), latest_schema_version());
  Statement mode = db.prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.column_text(0), "wal");
  Statement keys = db.prepare("PRAGMA foreign_keys");
  ASSERT_TRUE(keys.step());
  EXPECT_EQ(keys.column_int64(0), 1);
}

TEST(Database, ReopeningAMigratedStoreChangesNothing) {
  TempDir dir;
  {
    Database::open(dir / "s.db")
        .exec("INSERT INTO metrics (name, value, recorded_at) VALUES ('x', 1, 'now')");
  }
  Database db = Database::open(dir / "s.db");
  EXPECT_EQ(count(db, "metrics"), 1);
}

TEST(Database, RefusesAnotherApplicationsSqliteDatabase) {
  TempDir dir;
  {
    Database db = Database::open_in_memory();  // ensure the library works before making the foreign file
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "other.db").c_str(), &raw), SQLITE_OK);
  sqlite3_exec(raw, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  try {
    Database::open(dir / "other.db");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::integrity);
    EXPECT_NE(std::string(e.what()).find("not a medcode store"), std::string::npos);
  }
}

TEST(Database, ExistingOnlyModeDoesNotCreateAStore) {
  TempDir dir;
  EXPECT_THROW(Database::open(dir / "absent.db", OpenMode::existing_only), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "absent.db"));
}

TEST(Transaction, RollsBackWhenNotCommitted) {
  Database db = Database::open_in_memory();
  {
    Transaction transaction(db);
    db.exec("INSERT INTO metrics (name, value, recorded_at) VALUES ('x', 1, 'now')");
  }
  EXPECT_EQ(count(db, "metrics"), 0);
  {
    Transaction transaction(db);
    db.exec("INSERT INTO metrics (name, value, recorded_at) VALUES ('x', 1, 'now')");
    transaction.commit();
  }
  EXPECT_EQ(count(db, "metrics"), 1);
}

TEST(Statement, RunWithBindsTextWithoutCopyingAndResets) {
  Database db = Database::open_in_memory();
  Statement insert =
      db.prepare("INSERT INTO runs (command, argv, version, started_at, error) VALUES (?, ?, ?, ?, ?)");
  std::optional<std::string> error;
  insert.run_with(std::string("first"), "[]", "0", "t", error);
  error = "it broke";
  insert.run_with(std::string("second"), "[]", "0", "t", error);
  Statement select = db.prepare("SELECT command, error FROM runs ORDER BY id");
  ASSERT_TRUE(select.step());
  EXPECT_EQ(select.column_text(0), "first");
  EXPECT_TRUE(select.column_is_null(1));
  ASSERT_TRUE(select.step());
  EXPECT_EQ(select.column_text(0), "second");
  EXPECT_EQ(select.column_optional_text(1), "it broke");
}

TEST(Statement, ABindSqliteRefusesIsAnErrorNotASilentlyKeptOldValue) {
  Database db = Database::open_in_memory();
  db.exec("CREATE TABLE t (x INTEGER)");
  db.exec("INSERT INTO t VALUES (1), (2)");
  Statement select = db.prepare("SELECT count(*) FROM t WHERE x = ?");
  select.bind(1, std::int64_t{1});
  ASSERT_TRUE(select.step());
  EXPECT_THROW(select.bind(1, std::int64_t{2}), Error);  // stepped, not reset
  select.reset();
  EXPECT_THROW(select.bind(2, std::int64_t{2}), Error);  // no such parameter
  select.bind(1, std::int64_t{2});
  ASSERT_TRUE(select.step());
  EXPECT_EQ(select.column_int64(0), 1);
}

TEST(Runs, RedactsSecretOptionValues) {
  auto redacted =
      redact_arguments({"medcode", "--api-key", "sk-123", "--token=abc", "--db", "x.db", "--password"});
  EXPECT_EQ(redacted, (std::vector<std::string>{"medcode", "--api-key", "***", "--token=***", "--db", "x.db",
                                                "--password"}));
}

TEST(Runs, RecordsStartFinishAndFailure) {
  Database db = Database::open_in_memory();
  {
    RunRecorder run(db, "import icd10cm", {"medcode", "import", "--api-key", "secret"});
    run.counters()["codes"] = 5;
    run.finish();
  }
  {
    RunRecorder run(db, "fetch", {"medcode", "fetch"});
    run.fail(4, "network down");
  }
  Statement select =
      db.prepare("SELECT command, status, exit_code, argv, counters, error FROM runs ORDER BY id");
  ASSERT_TRUE(select.step());
  EXPECT_EQ(select.column_text(1), "ok");
  EXPECT_EQ(select.column_text(3).find("secret"), std::string::npos);
  EXPECT_EQ(select.column_text(4), "{\"codes\":5}");
  ASSERT_TRUE(select.step());
  EXPECT_EQ(select.column_text(1), "failed");
  EXPECT_EQ(select.column_int64(2), 4);
  EXPECT_EQ(select.column_text(5), "network down");
}

TEST(JobLock, NamesOneStableFileBesideTheStorePerJob) {
  std::filesystem::path first = job_lock_path("/data/m.db", "generate", "job-a");
  EXPECT_EQ(first, job_lock_path("/data/m.db", "generate", "job-a"));
  EXPECT_NE(first, job_lock_path("/data/m.db", "generate", "job-b"));
  EXPECT_NE(first, job_lock_path("/data/m.db", "score", "job-a"));
  EXPECT_EQ(first.parent_path(), "/data");
  EXPECT_EQ(first.filename().string().rfind("m.db.generate-", 0), 0u) << first;
  EXPECT_EQ(first.extension(), ".lock");
}

TEST(JobLock, IsReentrantWithinAProcessAndLeavesNoFileBehind) {
  TempDir dir;
  Database db = Database::open(dir / "m.db");
  std::filesystem::path path;
  {
    JobLock outer(db, "generate", "job-a", "generate a");
    JobLock inner(db, "generate", "job-a", "generate a");  // a pipeline's stage inside the command
    path = outer.path();
    EXPECT_EQ(util::FileLock::holds_in_this_process(path), 2);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace medcode::store
