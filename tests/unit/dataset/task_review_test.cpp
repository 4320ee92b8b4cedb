// Tests of reading a task's results back: coverage and facet spread (--verify-only) and the newest answers
// (--show), on entries written straight into a store holding the HCPCS mini release.
#include "medcode/dataset/task_review.h"

#include <gtest/gtest.h>

#include "medcode/codes/import.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"
#include "support/medcode_process.h"

namespace medcode::dataset {
namespace {

constexpr std::int64_t k_codes = 4;  // billable codes of the mini file: A0021 A0080 J7999 Q0035

class TaskReviewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codes::ImportOptions import;
    import.year = 2019;
    import.paths = {testing::fixture("hcpcs/HCPC2019_MINI.txt")};
    codes::import_hcpcs(m_db, import);
  }

  // A finished request of `model`, for entries to point at.
  std::int64_t add_request(const std::string& model) {
    auto insert = m_db.prepare(
        "INSERT INTO llm_requests (request_key, model, provider, model_id, task, status, prompt, created_at) "
        "VALUES (?, ?, 'openai', 'fake', 'facets', 'done', '{}', ?)");
    insert.bind_all("key-" + std::to_string(++m_requests), model, util::utc_now_iso8601());
    insert.run();
    return m_db.last_insert_rowid();
  }

  void add_entry(const std::string& task, const std::string& kind, const std::string& code,
                 const std::string& model, const std::optional<std::string>& data,
                 std::optional<std::int64_t> request_id = std::nullopt, const std::string& text = "text") {
    auto insert = m_db.prepare(
        "INSERT INTO dataset_entries (task, kind, text, source_system, source_year, source_code, data, "
        "model, "
        "request_id, created_at) VALUES (?, ?, ?, 'hcpcs', 2019, ?, ?, ?, ?, ?)");
    insert.bind_all(task, kind, text, code, data, model, request_id, util::utc_now_iso8601());
    insert.run();
  }

  void add_facets(const std::string& code, const std::string& model, const nlohmann::json& facets,
                  std::optional<std::int64_t> request_id = std::nullopt) {
    add_entry("facets", "facets", code, model, facets.dump(), request_id);
  }

  GenerateOptions facets(std::vector<std::string> models = {}) {
    GenerateOptions options;
    options.task = "facets";
    options.models = std::move(models);
    return options;
  }

  testing::TempDir m_dir;
  store::Database m_db = store::Database::open(m_dir / "m.db");
  int m_requests = 0;
};

TEST_F(TaskReviewTest, CountsCodesWithFacetsAndTheMostCommonValuesOfEachField) {
  add_facets("A0021", "a", {{"body_region", "head"}, {"uses_contrast", false}});
  add_facets("A0080", "a", {{"body_region", "thorax"}, {"uses_contrast", false}});
  add_facets("J7999", "a", {{"body_region", "head"}, {"uses_contrast", true}});
  add_facets("G9999", "a", {{"body_region", "skin"}});  // not billable: not selected
  TaskCoverage coverage = task_coverage(m_db, facets());
  EXPECT_EQ(coverage.release, "HCPCS Level II 2019");
  EXPECT_EQ(coverage.codes, k_codes);
  EXPECT_EQ(coverage.codes_done, 3);
  EXPECT_DOUBLE_EQ(coverage.coverage_percent, 75.0);
  EXPECT_EQ(coverage.answers, 3);
  ASSERT_EQ(coverage.fields.size(), 2u);
  const FieldSpread& region = coverage.fields[0];
  EXPECT_EQ(region.field, "body_region");
  EXPECT_EQ(region.distinct_values, 2);
  ASSERT_EQ(region.top.size(), 2u);
  EXPECT_EQ(region.top[0].value, "head");
  EXPECT_EQ(region.top[0].count, 2);
  EXPECT_EQ(region.top[1].value, "thorax");
  const FieldSpread& contrast = coverage.fields[1];
  EXPECT_EQ(contrast.field, "uses_contrast");
  EXPECT_EQ(contrast.top[0].value, "false");
  EXPECT_EQ(contrast.top[0].count, 2);
}

TEST_F(TaskReviewTest, KeepsTheFiveMostCommonValuesWithTiesInValueOrder) {
  // level_5 twice, every other value once (across two models): the ties come in value order.
  add_facets("A0021", "a", {{"em_level", "level_5"}});
  add_facets("A0080", "a", {{"em_level", "level_5"}});
  add_facets("J7999", "a", {{"em_level", "level_4"}});
  add_facets("Q0035", "a", {{"em_level", "level_3"}});
  add_facets("A0021", "b", {{"em_level", "not_applicable"}});
  add_facets("A0080", "b", {{"em_level", "level_1"}});
  add_facets("J7999", "b", {{"em_level", "level_2"}});
  TaskCoverage coverage = task_coverage(m_db, facets());
  ASSERT_EQ(coverage.fields.size(), 1u);
  const FieldSpread& level = coverage.fields[0];
  EXPECT_EQ(level.distinct_values, 6);
  ASSERT_EQ(level.top.size(), static_cast<std::size_t>(k_top_values));
  EXPECT_EQ(level.top[0].value, "level_5");
  EXPECT_EQ(level.top[0].count, 2);
  std::vector<std::string> rest;
  for (std::size_t i = 1; i < level.top.size(); ++i) rest.push_back(level.top[i].value);
  EXPECT_EQ(rest, (std::vector<std::string>{"level_1", "level_2", "level_3", "level_4"}));
  EXPECT_EQ(coverage.answers, 7);
}

TEST_F(TaskReviewTest, TheModelFilterCountsOnlyThatModelsAnswers) {
  add_facets("A0021", "a", {{"body_region", "head"}});
  add_facets("A0080", "b", {{"body_region", "thorax"}});
  TaskCoverage coverage = task_coverage(m_db, facets({"b"}));
  EXPECT_EQ(coverage.codes_done, 1);
  ASSERT_EQ(coverage.fields.size(), 1u);
  EXPECT_EQ(coverage.fields[0].top.at(0).value, "thorax");
  EXPECT_EQ(task_coverage(m_db, facets({"c"})).codes_done, 0);
}

TEST_F(TaskReviewTest, ANewerAnswerOfTheSameModelReplacesTheOlderOne) {
  add_facets("A0021", "a", {{"body_region", "head"}}, add_request("a"));
  add_facets("A0021", "a", {{"body_region", "thorax"}}, add_request("a"));
  TaskCoverage coverage = task_coverage(m_db, facets());
  EXPECT_EQ(coverage.answers, 1);
  ASSERT_EQ(coverage.fields.at(0).top.size(), 1u);
  EXPECT_EQ(coverage.fields[0].top[0].value, "thorax");
  auto shown = newest_entries(m_db, facets(), 10);
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].data["body_region"], "thorax");
}

TEST_F(TaskReviewTest, NewestEntriesComeNewestFirstWithDescriptionTextsByKind) {
  std::int64_t older = add_request("a");
  add_entry("descriptions", "clinical", "A0080", "a", std::nullopt, older, "transport by volunteer");
  add_entry("descriptions", "lay", "A0080", "a", std::nullopt, older, "a neighbour drove me");
  std::int64_t newer = add_request("a");
  add_entry("descriptions", "clinical", "A0021", "a", std::nullopt, newer, "out-of-state ambulance mileage");
  add_entry("descriptions", "facets", "Q0035", "a", R"({"body_region": "thorax"})");  // another task's kind
  GenerateOptions options = facets();
  options.task = "descriptions";
  options.system = codes::System::hcpcs;
  auto shown = newest_entries(m_db, options, 2);
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_EQ(shown[0].code, "Q0035");
  EXPECT_EQ(shown[1].code, "A0021");
  EXPECT_NE(shown[1].description.find("Ambulance service"), std::string::npos) << shown[1].description;
  EXPECT_EQ(shown[1].texts.at("clinical"), std::vector<std::string>{"out-of-state ambulance mileage"});
  EXPECT_TRUE(shown[1].data.empty());
  auto all = newest_entries(m_db, options, 10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].texts.at("lay"), std::vector<std::string>{"a neighbour drove me"});
  TaskCoverage coverage = task_coverage(m_db, options);
  EXPECT_EQ(coverage.codes_done, 3);
  EXPECT_EQ(coverage.fields.size(), 1u);  // only the facets kind has fields
}

TEST_F(TaskReviewTest, RationalesAreReadFromTheDataOfTheEntriesTheyExplain) {
  add_entry("cms-terms", "index_term", "A0021", "cms", R"({"path": ["Ambulance"]})", std::nullopt,
            "ambulance");
  add_entry("cms-terms", "index_term", "A0021", "cms",
            R"({"path": ["Mileage"], "rationale": "Ambulance mileage is A0021.", "rationale_model": "r"})",
            std::nullopt, "ambulance mileage");
  add_entry("descriptions", "lay", "Q0035", "d",
            R"({"rationale": "A heart trace: Q0035.", "rationale_model": "s"})", std::nullopt,
            "a heart trace");
  add_entry("descriptions", "lay", "A0080", "d", "not json", std::nullopt, "volunteer driver");
  GenerateOptions options = facets();
  options.task = "rationales";
  options.system = codes::System::hcpcs;
  TaskCoverage coverage = task_coverage(m_db, options);
  EXPECT_EQ(coverage.codes_done, 2);
  EXPECT_EQ(coverage.answers, 2);
  EXPECT_TRUE(coverage.fields.empty());
  auto shown = newest_entries(m_db, options, 5);
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_EQ(shown[0].code, "Q0035");
  EXPECT_EQ(shown[0].model, "s");
  EXPECT_EQ(shown[0].texts.at("rationale"), std::vector<std::string>{"A heart trace: Q0035."});
  EXPECT_EQ(shown[1].texts.at("index_term"), std::vector<std::string>{"ambulance mileage"});
  options.models = {"r"};
  EXPECT_EQ(task_coverage(m_db, options).codes_done, 1);
}

TEST_F(TaskReviewTest, FiltersSelectTheCodesReviewed) {
  add_facets("A0021", "a", {{"body_region", "head"}});
  add_facets("Q0035", "a", {{"body_region", "thorax"}});
  GenerateOptions options = facets();
  options.filter.limit = 2;  // A0021, A0080
  TaskCoverage coverage = task_coverage(m_db, options);
  EXPECT_EQ(coverage.codes, 2);
  EXPECT_EQ(coverage.codes_done, 1);
  auto shown = newest_entries(m_db, options, 5);
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].code, "A0021");
}

TEST_F(TaskReviewTest, FacetsDataThatIsNotAJsonObjectIsAnIntegrityFailure) {
  add_entry("facets", "facets", "A0080", "a", "[1, 2");
  try {
    task_coverage(m_db, facets());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::integrity);
    EXPECT_NE(std::string(e.what()).find("A0080"), std::string::npos) << e.what();
  }
}

TEST_F(TaskReviewTest, AReleaseNotImportedIsBadInputAndShowNeedsAPositiveCount) {
  GenerateOptions options = facets();
  options.system = codes::System::icd10pcs;
  try {
    task_coverage(m_db, options);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
  }
  try {
    newest_entries(m_db, facets(), 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

}  // namespace
}  // namespace medcode::dataset
