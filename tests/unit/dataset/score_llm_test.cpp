// Tests of the llm:<model> coder against the fake provider: scores from ranked answers, invalid codes dropped
// and counted, provider failures and unknown models reported, and prompts that never show the source code.
#include <gtest/gtest.h>

#include <map>

#include "medcode/codes/import.h"
#include "medcode/dataset/score.h"
#include "medcode/util/error.h"
#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode::dataset {
namespace {

using testing::FakeProvider;
using testing::FakeProviderOptions;
using testing::ProviderRequest;
using testing::query_int;
using testing::query_text;

// The JSON array of items after "ITEMS:" in the latest user message that has one.
nlohmann::json items_of(const ProviderRequest& request) {
  for (auto it = request.user_messages.rbegin(); it != request.user_messages.rend(); ++it) {
    auto at = it->find("ITEMS:");
    if (at == std::string::npos) continue;
    auto open = it->find('[', at);
    auto parsed = nlohmann::json::parse(it->substr(open), nullptr, false);
    if (parsed.is_array()) return parsed;
  }
  return nlohmann::json::array();
}

class ScoreLlmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codes::ImportOptions import;
    import.year = 2023;
    import.paths = {testing::fixture("icd10cm/tabular_mini.xml"), testing::fixture("icd10cm/index_mini.xml")};
    codes::import_icd10cm(m_db, import);
    // Three billable codes that each have a billable sibling under the same parent.
    auto statement = m_db.prepare(
        "SELECT c.code, min(s.code) FROM codes c JOIN codes s ON s.release_id = c.release_id AND s.parent = "
        "c.parent AND s.code <> c.code AND s.billable = 1 WHERE c.billable = 1 GROUP BY c.code ORDER BY "
        "c.code "
        "LIMIT 3");
    while (statement.step()) m_sibling[statement.column_text(0)] = statement.column_text(1);
    ASSERT_EQ(m_sibling.size(), 3u);
    int n = 0;
    for (const auto& [code, sibling] : m_sibling) {
      std::string text = "head injury text number " + std::to_string(++n);
      m_db.prepare(
              "INSERT INTO dataset_entries (task, kind, text, source_system, source_year, source_code, "
              "model, created_at) VALUES ('descriptions', 'clinical', ?, 'icd10cm', 2023, ?, 'm', 'now')")
          .bind_all(text, code)
          .run();
      m_code_of_text[text] = code;
    }
  }

  void add_model(const std::string& name, const FakeProvider& fake, const std::string& extra = "") {
    m_registry.overlay(fmt::format("models:\n  {}:\n    provider: openai\n    model_id: fake-openai\n"
                                   "    base_url: {}\n    api_key_env: \"\"\n    input_per_million: 1.0\n"
                                   "    output_per_million: 2.0\n    requests_per_minute: 6000\n"
                                   "    timeout_seconds: 2\n    batch_size: 2\n{}",
                                   name, fake.base_url("openai"), extra),
                       "test");
  }

  // The right code first, an invalid code, then a sibling; the first entry's right code is written loosely
  // ("s060x1a") and the last entry's answer puts the sibling first.
  testing::Answerer answerer() {
    return [this](const ProviderRequest& request) {
      nlohmann::json answers = nlohmann::json::array();
      for (const auto& item : items_of(request)) {
        const std::string& code = m_code_of_text.at(item.at("text").get<std::string>());
        std::string right = code;
        if (code == m_sibling.begin()->first) {
          right.erase(right.find('.'), 1);
          for (auto& c : right) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        std::vector<std::string> codes = {right, "ZZZ.999", m_sibling.at(code)};
        if (code == m_sibling.rbegin()->first) codes = {m_sibling.at(code), "ZZZ.999", right};
        answers.push_back({{"id", item.at("id")}, {"codes", codes}});
      }
      return nlohmann::json{{"items", answers}}.dump();
    };
  }

  ScoreOptions llm_options(const std::string& coder) {
    ScoreOptions options;
    options.coders = {coder};
    options.registry = &m_registry;
    options.engine_seed = 1;
    return options;
  }

  std::int64_t count(const std::string& sql) { return query_int(m_db, sql); }

  testing::TempDir m_dir;
  store::Database m_db = store::Database::open(m_dir / "m.db");
  llm::ModelRegistry m_registry = llm::ModelRegistry::defaults();
  std::map<std::string, std::string> m_sibling;  // code -> a sibling
  std::map<std::string, std::string> m_code_of_text;
};

TEST_F(ScoreLlmTest, StoresScoresFromRankedAnswersWithInvalidCodesDroppedAndCounted) {
  FakeProvider fake({}, answerer());
  add_model("m", fake);
  ScoreSummary summary = score_entries(m_db, llm_options("llm:m"));
  ASSERT_EQ(summary.coders.size(), 1u);
  const CoderSummary& coder = summary.coders.at(0);
  EXPECT_EQ(coder.coder, "llm:m");
  EXPECT_EQ(coder.scored, 3);
  EXPECT_EQ(coder.left, 0);
  EXPECT_EQ(coder.invalid_codes, 3);
  EXPECT_FALSE(coder.fatal_error);
  EXPECT_GE(coder.requests, 2);  // two entries a request
  EXPECT_GT(coder.cost_usd, 0);
  EXPECT_EQ(coder.exact, 2);
  EXPECT_EQ(coder.ranked, 1);  // second once the invalid code is dropped, not third
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores WHERE coder = 'llm:m'"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores WHERE answer LIKE '%ZZZ%'"), 0);
  const std::string& loose = m_sibling.begin()->first;
  nlohmann::json answer = nlohmann::json::parse(query_text(
      m_db,
      "SELECT answer FROM entry_scores s JOIN dataset_entries e ON e.id = s.entry_id WHERE source_code = '" +
          loose + "'"));
  ASSERT_EQ(answer.size(), 2u);
  EXPECT_EQ(answer[0]["code"], loose);
  EXPECT_DOUBLE_EQ(answer[0]["score"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(answer[1]["score"].get<double>(), 0.5);
  EXPECT_EQ(query_text(m_db,
                       "SELECT round(score, 6) FROM entry_scores s JOIN dataset_entries e ON e.id = "
                       "s.entry_id WHERE source_code = '" +
                           m_sibling.rbegin()->first + "'"),
            "0.9");

  // Scored entries are not sent again.
  std::size_t sent = fake.request_count();
  ScoreSummary again = score_entries(m_db, llm_options("llm:m"));
  EXPECT_EQ(again.coders.at(0).scored, 0);
  EXPECT_EQ(again.coders.at(0).already, 3);
  EXPECT_EQ(fake.request_count(), sent);
}

TEST_F(ScoreLlmTest, PromptsShowTheTextsButNeverTheSourceCodes) {
  FakeProvider fake({}, answerer());
  add_model("m", fake);
  score_entries(m_db, llm_options("llm:m"));
  ASSERT_GT(fake.request_count(), 0u);
  for (const auto& request : fake.requests()) {
    EXPECT_NE(request.user.find("head injury text number"), std::string::npos);
    EXPECT_NE(request.system.find("ICD-10-CM"), std::string::npos);
    for (const auto& [code, sibling] : m_sibling) {
      for (const std::string& form : {code, code.substr(0, 3) + code.substr(4)}) {
        EXPECT_EQ(request.system.find(form), std::string::npos) << form;
        for (const auto& user : request.user_messages) EXPECT_EQ(user.find(form), std::string::npos) << form;
      }
    }
  }
}

TEST_F(ScoreLlmTest, AnswersWithNoValidCodeLeaveTheEntryUnscoredForALaterRun) {
  FakeProvider fake({}, [](const ProviderRequest& request) {
    nlohmann::json answers = nlohmann::json::array();
    for (const auto& item : items_of(request))
      answers.push_back({{"id", item.at("id")}, {"codes", {"ZZZ.999"}}});
    return nlohmann::json{{"items", answers}}.dump();
  });
  add_model("m", fake, "    max_repairs: 1\n");
  ScoreSummary summary = score_entries(m_db, llm_options("llm:m"));
  EXPECT_EQ(summary.coders.at(0).scored, 0);
  EXPECT_EQ(summary.coders.at(0).left, 3);
  EXPECT_EQ(summary.coders.at(0).items_failed, 3);
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores"), 0);
}

TEST_F(ScoreLlmTest, UnauthorizedIsReportedAsFatalAndScoresNothing) {
  FakeProviderOptions fake_options;
  fake_options.required_api_key = "right-key";
  FakeProvider fake(fake_options, answerer());
  ::setenv("MEDCODE_TEST_SCORE_WRONG_KEY", "wrong-key-value", 1);
  add_model("m", fake, "    api_key_env: MEDCODE_TEST_SCORE_WRONG_KEY\n    initial_concurrency: 1\n");
  ScoreSummary summary = score_entries(m_db, llm_options("llm:m"));
  const CoderSummary& coder = summary.coders.at(0);
  ASSERT_TRUE(coder.fatal_error);
  EXPECT_NE(coder.fatal_error->find("401"), std::string::npos);
  EXPECT_EQ(coder.scored, 0);
  EXPECT_EQ(coder.left, 3);
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores"), 0);
}

TEST_F(ScoreLlmTest, UnknownModelOrNoRegistryIsAUsageError) {
  for (bool with_registry : {true, false}) {
    ScoreOptions options = llm_options("llm:no-such-model");
    if (!with_registry) options.registry = nullptr;
    try {
      score_entries(m_db, options);
      FAIL() << "expected a usage error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage);
    }
  }
  EXPECT_EQ(count("SELECT count(*) FROM entry_scores"), 0);
}

}  // namespace
}  // namespace medcode::dataset
