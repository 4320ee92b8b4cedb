// Tests of the store: migrations, identity checks, transactions and run records.
#include <gtest/gtest.h>

#include "medcode/store/database.h"
#include "medcode/store/job_lock.h"
#include "medcode/store/migrations.h"
#include "medcode/store/runs.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode::store {
namespace {

using medcode::testing::TempDir;

std::int64_t count(Database& db, const std::string& table) {
  Statement statement = db.prepare("SELECT count(*) FROM " + table);
  statement.step();
  return statement.column_int64(0);
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
