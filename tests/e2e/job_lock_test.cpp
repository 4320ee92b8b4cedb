// End-to-end tests of the job locks: one process per job of a store (a second is refused with exit 6 before
// it sends anything), other jobs alongside, and a lock left by a killed process taken over with a warning.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::FakeProvider;
using testing::FakeProviderOptions;
using testing::ProcessResult;
using testing::query_int;
using testing::run_medcode;
using testing::TempDir;

class JobLocks : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), db()); }

  fs::path db() const { return m_dir / "m.db"; }

  // A model on the slow fake: one request of two codes at a time.
  void write_config(const FakeProvider& fake) {
    std::ofstream(m_dir / "medcode.yaml")
        << "models:\n  m:\n    provider: openai\n    model_id: fake-openai\n    base_url: "
        << fake.base_url("openai")
        << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
           "    prices_as_of: \"2026-11-01\"\n    requests_per_minute: 6000\n    timeout_seconds: 5\n"
           "    batch_size: 2\n    initial_concurrency: 1\n    max_concurrency: 1\n";
  }

  std::vector<std::string> generate_args(const std::string& sample, const std::string& seed = "5") const {
    return {"--db",   db().string(), "generate", "--task", "descriptions", "--model", "m", "--sample", sample,
            "--seed", seed,          "--count",  "1",      "--batch-size", "2"};
  }

  ProcessResult medcode(const std::vector<std::string>& args) {
    return run_medcode(args, m_dir.path(), {{"FAKE_PROVIDER_KEY", "k"}});
  }

  // Waits until the fake has seen `n` requests (the first process holds its lock by then).
  static void wait_for_requests(const FakeProvider& fake, std::size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (fake.request_count() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  std::vector<fs::path> job_lock_files(const std::string& kind = "generate") const {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(m_dir.path())) {
      std::string name = entry.path().filename().string();
      if (name.rfind("m.db." + kind + "-", 0) == 0) files.push_back(entry.path());
    }
    return files;
  }

  // "pid N" of the one process holding a job of `kind`.
  std::string holder_pid(const std::string& kind = "generate") const {
    std::vector<fs::path> files = job_lock_files(kind);
    if (files.size() != 1) return "no single lock file";
    std::string text = testing::read_text(files[0]);
    return text.substr(0, text.find(" since"));
  }

  std::int64_t count(const std::string& sql) { return query_int(db(), sql); }

  TempDir m_dir;
};

TEST_F(JobLocks, ASecondGenerateOfTheSameJobExitsSixNamingTheHolderAndNothingIsPaidTwice) {
  FakeProviderOptions fake_options;
  fake_options.latency = std::chrono::milliseconds(250);
  FakeProvider fake(fake_options);
  write_config(fake);
  testing::BackgroundMedcode first(generate_args("10"), m_dir.path(), {{"FAKE_PROVIDER_KEY", "k"}});
  wait_for_requests(fake, 1);

  std::string holder = holder_pid();
  EXPECT_EQ(holder.rfind("pid ", 0), 0u) << holder;
  ProcessResult second = medcode(generate_args("10"));
  EXPECT_EQ(second.exit_code, 6) << second.err;
  EXPECT_NE(second.err.find("another medcode process holds the job generate descriptions"), std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find("(" + holder + " since"), std::string::npos) << second.err;

  // Another job of the same store goes on beside it.
  ProcessResult other = medcode(generate_args("4", "6"));
  EXPECT_EQ(other.exit_code, 0) << other.err;

  ASSERT_EQ(first.wait(), 0);
  std::int64_t first_job = count("SELECT min(id) FROM generation_jobs");
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'done' AND job_id = " +
                  std::to_string(first_job)),
            10);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE job_id = " + std::to_string(first_job)),
            10 * 2);
  // Every request the fake saw is one ledger attempt: the refused process sent nothing.
  EXPECT_EQ(count("SELECT sum(attempts) FROM llm_requests"), static_cast<std::int64_t>(fake.request_count()));
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status = 'done'"), 5 + 2);
  EXPECT_TRUE(job_lock_files().empty()) << "the lock files go with the processes that held them";
}

TEST_F(JobLocks, ALockLeftByAKilledGenerateIsTakenOverWithAWarning) {
  FakeProviderOptions fake_options;
  fake_options.latency = std::chrono::milliseconds(250);
  FakeProvider fake(fake_options);
  write_config(fake);
  std::string killed;
  {
    testing::BackgroundMedcode first(generate_args("6"), m_dir.path(), {{"FAKE_PROVIDER_KEY", "k"}});
    wait_for_requests(fake, 1);
    killed = holder_pid();
    first.kill_now();
  }
  EXPECT_EQ(holder_pid(), killed) << "a killed process leaves its lock file";

  fake.set_latency(std::chrono::milliseconds(0));
  ProcessResult rerun = medcode(generate_args("6"));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_NE(rerun.err.find("took over the lock of the job generate descriptions"), std::string::npos)
      << rerun.err;
  EXPECT_NE(rerun.err.find(killed + " since"), std::string::npos) << rerun.err;
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), 6);
  EXPECT_TRUE(job_lock_files().empty());
  // The killed run is marked interrupted with its pid; its attempt in flight too, and it was sent again.
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'interrupted' AND error LIKE 'process " +
                  killed.substr(4) + " ended without closing the run%'"),
            1)
      << testing::query_text(db(), "SELECT group_concat(id || ' ' || status || ' ' || coalesce(pid, '-') || ' ' || "
                                   "coalesce(error, '-'), ' | ') FROM runs");
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'running'"), 0);
  EXPECT_GE(count("SELECT count(*) FROM llm_attempts WHERE status = 'interrupted'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE status IN ('in_flight', 'interrupted')"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM llm_attempts"), static_cast<std::int64_t>(fake.request_count()));
  ProcessResult report = medcode({"--db", db().string(), "report", "--out", (m_dir / "report.html").string()});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  std::ifstream page(m_dir / "report.html");
  std::string html((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("<div class=\"label\">Interrupted runs</div><div class=\"number\">1</div>"),
            std::string::npos);
}

TEST_F(JobLocks, ASecondLlmScoreOfTheSameCoderExitsSix) {
  FakeProvider fake;
  write_config(fake);
  ASSERT_EQ(medcode(generate_args("4")).exit_code, 0);
  fake.set_latency(std::chrono::milliseconds(300));
  std::vector<std::string> score = {"--db", db().string(), "score", "--coder", "llm:m"};
  testing::BackgroundMedcode first(score, m_dir.path(), {{"FAKE_PROVIDER_KEY", "k"}});
  wait_for_requests(fake, 3);  // two from generate, then the scorer's first
  std::size_t seen = fake.request_count();
  std::string holder = holder_pid("score");
  ProcessResult second = medcode(score);
  EXPECT_EQ(second.exit_code, 6) << second.err;
  EXPECT_NE(second.err.find("holds the job score --coder llm:m (" + holder + " since"), std::string::npos)
      << second.err;
  EXPECT_EQ(first.wait(), 0);
  EXPECT_GE(fake.request_count(), seen);
  EXPECT_EQ(count("SELECT sum(attempts) FROM llm_requests"), static_cast<std::int64_t>(fake.request_count()));
}

}  // namespace
}  // namespace medcode
