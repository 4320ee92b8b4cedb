// End-to-end tests of `medcode run`: the offline pipeline from an empty store against the mirror, a second
// run that finds nothing to do, and the lock that keeps two runs off one store (and a stale one taken over).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "medcode/util/error.h"
#include "medcode/util/file_lock.h"
#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::run_medcode;
using testing::TempDir;

class RunCommand : public ::testing::Test {
 protected:
  ProcessResult run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", (m_dir / "m.db").string(), "run"});
    return run_medcode(args, m_dir.path(), {{"MEDCODE_CONFIG", ""}});
  }
  void use_shared_store() { fs::copy_file(testing::icd10cm_2023_store(), m_dir / "m.db"); }
  TempDir m_dir;
};

TEST_F(RunCommand, BuildsTheWholeDatasetOfflineFromAnEmptyStoreAndARerunDoesNothingNew) {
  ProcessResult first =
      run({"--json", "--target-size", "150", "--mirror", testing::shared_data("cms").string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto summary = nlohmann::json::parse(first.out);
  EXPECT_TRUE(summary["new_work"].get<bool>());
  EXPECT_GT(summary["entries"].get<int>(), 100);
  EXPECT_GT(summary["golden"].get<int>(), 0);
  std::vector<std::string> stages;
  for (const auto& stage : summary["stages"]) stages.push_back(stage["stage"]);
  EXPECT_EQ(stages, (std::vector<std::string>{"fetch", "import", "generate", "score", "export", "report"}));
  for (const char* file :
       {"descriptions-to-codes.all.jsonl", "descriptions-to-codes.golden.jsonl", "index.html"}) {
    EXPECT_TRUE(fs::exists(m_dir / "medcode-output" / file)) << file;
  }
  EXPECT_EQ(
      testing::query_int(m_dir / "m.db", "SELECT count(*) FROM runs WHERE command = 'run' AND status = 'ok'"),
      1);

  ProcessResult second = run({"--target-size", "150", "--mirror", testing::shared_data("cms").string()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("nothing new"), std::string::npos) << second.out;
  EXPECT_EQ(testing::query_int(m_dir / "m.db", "SELECT count(*) FROM dataset_entries"),
            summary["entries"].get<int>());
}

TEST_F(RunCommand, QuietPrintsNothingOnSuccess) {
  use_shared_store();
  ProcessResult result = run({"--quiet", "--target-size", "50", "--skip-fetch"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "");
}

TEST_F(RunCommand, ASecondRunOnTheSameStoreIsRefusedAtOnce) {
  use_shared_store();
  util::FileLock held((m_dir / "m.db").string() + ".lock");
  ProcessResult result = run({"--target-size", "50", "--skip-fetch"});
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_NE(result.err.find("another medcode run holds this store"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("pid"), std::string::npos);
  EXPECT_EQ(testing::query_int(m_dir / "m.db", "SELECT count(*) FROM dataset_entries"), 0);
}

TEST_F(RunCommand, ALockLeftByAKilledRunIsTakenOver) {
  use_shared_store();
  std::ofstream(m_dir / "m.db.lock") << "pid 999999 since 2026-01-01T00:00:00Z\n";
  ProcessResult result = run({"--target-size", "50", "--skip-fetch"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("took over the lock"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("pid 999999"), std::string::npos);
}

TEST_F(RunCommand, AProviderRefusingTheKeyStopsTheRunWithExitFourAndItsMessage) {
  use_shared_store();
  testing::FakeProviderOptions fake_options;
  fake_options.required_api_key = "the-right-key";
  testing::FakeProvider fake(fake_options);
  std::ofstream(m_dir / "medcode.yaml")
      << "models:\n  m:\n    provider: openai\n    model_id: fake-openai\n    base_url: " << fake.base_url("openai")
      << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0.5\n    output_per_million: 1.5\n";
  ProcessResult result =
      run_medcode({"--db", (m_dir / "m.db").string(), "--config", (m_dir / "medcode.yaml").string(), "run",
                   "--model", "m", "--target-size", "8", "--year", "2023"},
                  m_dir.path(), {{"FAKE_PROVIDER_KEY", "wrong-key"}});
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_NE(result.err.find("HTTP 401"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("no dataset entries to score"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("wrong-key"), std::string::npos) << result.err;
  EXPECT_EQ(testing::query_int(m_dir / "m.db", "SELECT exit_code FROM runs WHERE command = 'run'"), 4);
}

TEST_F(RunCommand, BadTargetSizeIsAUsageError) {
  use_shared_store();
  EXPECT_EQ(run({"--target-size", "0", "--skip-fetch"}).exit_code, 2);
}

}  // namespace
}  // namespace medcode
