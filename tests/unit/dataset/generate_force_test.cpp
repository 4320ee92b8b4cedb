// Tests of `force`: finished codes are asked again past the cache, the ledger keeps both answers, and each
// new answer replaces the code's entries of the task for that model, in every job of the release.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "medcode/codes/import.h"
#include "medcode/dataset/generate.h"
#include "medcode/store/runs.h"
#include "medcode/util/error.h"
#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::dataset {
namespace {

using testing::FakeProvider;
using testing::ProviderRequest;
using testing::query_int;

constexpr std::int64_t k_codes = 4;  // billable codes of the HCPCS mini file

class GenerateForceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codes::ImportOptions import;
    import.year = 2019;
    import.paths = {testing::fixture("hcpcs/HCPC2019_MINI.txt")};
    codes::import_hcpcs(m_db, import);
  }

  // Answers with `m_marker` in every facet answer's body_region and every description.
  testing::Answerer answerer() {
    auto marker = m_marker;
    return [marker](const ProviderRequest& request) {
      nlohmann::json answer = nlohmann::json::parse(testing::default_answer(request));
      for (auto& item : answer["items"]) {
        if (item.contains("body_region")) {
          item["body_region"] = marker->load();
        } else {
          for (const char* kind : {"clinical", "lay"}) {
            for (auto& text : item[kind]) text = text.get<std::string>() + " " + marker->load();
          }
        }
      }
      return answer.dump();
    };
  }

  void add_model(const FakeProvider& fake) {
    m_registry.overlay(
        fmt::format("models:\n  m:\n    provider: openai\n    model_id: fake\n    base_url: {}\n"
                    "    api_key_env: \"\"\n    requests_per_minute: 6000\n"
                    "    timeout_seconds: 2\n",
                    fake.base_url("openai")),
        "test");
  }

  // Each run has its own runs row, as on the command line: fresh requests are keyed by it.
  GenerateSummary run(GenerateOptions options) {
    store::RunRecorder recorder(m_db, "generate", {"generate"});
    options.run_id = recorder.id();
    options.models = {"m"};
    options.system = codes::System::hcpcs;
    options.batch_size = 2;
    options.engine_seed = 1;
    GenerateSummary summary = generate(m_db, m_registry, options);
    recorder.finish();
    return summary;
  }

  GenerateOptions task(const std::string& name, bool force = false) {
    GenerateOptions options;
    options.task = name;
    options.count = 1;
    options.force = force;
    return options;
  }

  std::int64_t count(const std::string& sql) { return query_int(m_db, sql); }

  testing::TempDir m_dir;
  store::Database m_db = store::Database::open(m_dir / "m.db");
  llm::ModelRegistry m_registry = llm::ModelRegistry::defaults();
  std::shared_ptr<std::atomic<const char*>> m_marker = std::make_shared<std::atomic<const char*>>("head");
};

TEST_F(GenerateForceTest, FacetsAreAskedAgainAndTheNewAnswerReplacesTheEntry) {
  FakeProvider fake({}, answerer());
  add_model(fake);
  run(task("facets"));
  ASSERT_EQ(count("SELECT count(*) FROM llm_requests"), 2);
  std::int64_t first_entry = count("SELECT min(id) FROM dataset_entries");
  m_db.exec(
      "INSERT INTO entry_scores (entry_id, coder, score, match, answer, scored_at) SELECT id, 'bm25', 1, "
      "'exact', '[]', 'now' FROM dataset_entries");

  m_marker->store("thorax");
  GenerateSummary forced = run(task("facets", true));
  EXPECT_EQ(forced.items_already_done, 0);
  EXPECT_EQ(forced.engine->models.at(0).items_done, k_codes);
  EXPECT_EQ(forced.engine->models.at(0).requests_cached, 0);
  EXPECT_EQ(fake.request_count(), 4u);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM llm_requests WHERE answer LIKE '%head%'"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), k_codes);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE json_extract(data, '$.body_region') = 'thorax' "
                  "AND id > " +
                  std::to_string(first_entry + k_codes - 1)),
            k_codes);
  // The scores of the replaced entries went with them.
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM generation_items WHERE status = 'done'"), k_codes);
}

TEST_F(GenerateForceTest, DescriptionsOfOtherJobsOfTheSameCodesAreReplacedToo) {
  FakeProvider fake({}, answerer());
  add_model(fake);
  GenerateOptions first_two = task("descriptions");
  first_two.filter.limit = 2;
  run(first_two);
  ASSERT_EQ(count("SELECT count(*) FROM dataset_entries"), 2 * 2);

  m_marker->store("again");
  run(task("descriptions", true));  // another job: all four codes
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries"), k_codes * 2);
  EXPECT_EQ(count("SELECT count(*) FROM dataset_entries WHERE text LIKE '% again'"), k_codes * 2);
  EXPECT_EQ(count("SELECT count(DISTINCT job_id) FROM dataset_entries"), 1);
}

TEST_F(GenerateForceTest, WithoutForceFinishedCodesAreNotAskedAgainEvenWithoutTheCache) {
  FakeProvider fake({}, answerer());
  add_model(fake);
  run(task("facets"));
  GenerateOptions no_cache = task("facets");
  no_cache.use_cache = false;
  GenerateSummary again = run(no_cache);
  EXPECT_EQ(again.items_already_done, k_codes);
  EXPECT_EQ(fake.request_count(), 2u);
}

TEST_F(GenerateForceTest, ADryRunWithForcePlansEveryRequestAsUncached) {
  FakeProvider fake({}, answerer());
  add_model(fake);
  run(task("facets"));
  GenerateOptions plan = task("facets", true);
  plan.dry_run = true;
  GenerateSummary summary = run(plan);
  ASSERT_EQ(summary.plans.size(), 1u);
  EXPECT_EQ(summary.plans[0].requests, 2);
  EXPECT_EQ(summary.plans[0].requests_cached, 0);
  plan.force = false;
  EXPECT_EQ(run(plan).plans.at(0).requests_cached, 2);
}

TEST_F(GenerateForceTest, ForceOnTheOfflineTaskIsAUsageError) {
  GenerateOptions options = task("cms-terms", true);
  try {
    generate(m_db, m_registry, options);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace medcode::dataset
