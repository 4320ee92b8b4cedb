// Tests of the one rule that turns an engine run into an exit code: provider failures before the budget.
#include "medcode/llm/engine_outcome.h"

#include <gtest/gtest.h>

namespace medcode::llm {
namespace {

ModelProgress model(const std::string& name) {
  ModelProgress progress;
  progress.model = name;
  return progress;
}

TEST(EngineOutcome, ACleanRunIsOk) {
  EngineResult result;
  result.models = {model("a"), model("b")};
  EngineVerdict verdict = judge_engine_result(result);
  EXPECT_EQ(verdict.code, ExitCode::ok);
  EXPECT_TRUE(verdict.errors.empty());
  EXPECT_TRUE(verdict.warnings.empty());
}

TEST(EngineOutcome, ItemsWithoutAValidAnswerAreAWarningOnly) {
  EngineResult result;
  result.models = {model("a")};
  result.models[0].items_done = 5;
  result.models[0].items_failed = 3;
  result.models[0].last_error = "bad json";
  EngineVerdict verdict = judge_engine_result(result, "entries");
  EXPECT_EQ(verdict.code, ExitCode::ok);
  ASSERT_EQ(verdict.warnings.size(), 1U);
  EXPECT_NE(verdict.warnings[0].find("3 entries"), std::string::npos) << verdict.warnings[0];
  EXPECT_NE(verdict.warnings[0].find("bad json"), std::string::npos);
}

TEST(EngineOutcome, NoValidAnswerAtAllIsBadInputNamingTheCause) {
  EngineResult result;
  result.models = {model("a")};
  result.models[0].items_failed = 4;
  EXPECT_EQ(judge_engine_result(result, "entries").code, ExitCode::ok);  // a warning where not asked
  EngineVerdict verdict = judge_engine_result(result, "entries", true);
  EXPECT_EQ(verdict.code, ExitCode::bad_input);
  ASSERT_EQ(verdict.errors.size(), 1U);
  EXPECT_NE(verdict.errors[0].find("no valid answer for any of its 4 entries"), std::string::npos)
      << verdict.errors[0];
  EXPECT_NE(verdict.errors[0].find("the answers left them out"), std::string::npos) << verdict.errors[0];
  EXPECT_EQ(verdict.errors[0].find('?'), std::string::npos) << verdict.errors[0];
}

TEST(EngineOutcome, TheLastErrorsFullStopIsNotDoubled) {
  EngineResult result;
  result.models = {model("a")};
  result.models[0].requests_failed = 1;
  result.models[0].last_error = "HTTP 500: the server failed the request.";
  EngineVerdict verdict = judge_engine_result(result);
  ASSERT_EQ(verdict.errors.size(), 1U);
  EXPECT_EQ(verdict.errors[0].find(".."), std::string::npos) << verdict.errors[0];
  EXPECT_NE(verdict.errors[0].find("failed the request. Run the same command"), std::string::npos)
      << verdict.errors[0];
}

TEST(EngineOutcome, AProviderFailureIsANetworkFailureEvenWhenTheBudgetRanOut) {
  EngineResult result;
  result.models = {model("a"), model("b")};
  result.models[0].requests_failed = 2;
  result.models[1].fatal_error = "b (openai gpt): 401 unauthorized";
  result.budget_exhausted = true;
  EngineVerdict verdict = judge_engine_result(result);
  EXPECT_EQ(verdict.code, ExitCode::network);
  ASSERT_EQ(verdict.errors.size(), 2U) << "the budget is not reported over a provider failure";
  EXPECT_NE(verdict.errors[0].find("2 requests failed"), std::string::npos);
  EXPECT_NE(verdict.errors[1].find("401 unauthorized; its work stopped"), std::string::npos);
}

TEST(EngineOutcome, ASpentBudgetIsAPolicyStopNamingTheSpendTheCapAndWhatIsLeft) {
  EngineResult result;
  result.models = {model("a")};
  result.budget_exhausted = true;
  result.cost_usd = 0.0198;
  result.max_cost_usd = 0.02;
  result.items_left = 12;
  result.next_request_usd = 0.0021;
  EngineVerdict verdict = judge_engine_result(result);
  EXPECT_EQ(verdict.code, ExitCode::policy);
  ASSERT_EQ(verdict.errors.size(), 1U);
  EXPECT_EQ(verdict.errors[0],
            "spending cap reached: spent $0.0198 of $0.0200 (next request ~$0.0021); 12 items left — raise "
            "--max-cost or run again to resume");
  // Answers lost to timeouts are counted, and said to be.
  result.lost_usd = 0.0001;
  verdict = judge_engine_result(result);
  EXPECT_NE(verdict.errors[0].find("spent $0.0198 of $0.0200, with $0.0001 more counted for answers lost"),
            std::string::npos)
      << verdict.errors[0];
}

TEST(EngineOutcome, ASpendOverTheCapIsSaidWithTheOvershoot) {
  EngineResult result;
  result.models = {model("a")};
  result.budget_exhausted = true;
  result.cost_usd = 0.0215;
  result.max_cost_usd = 0.02;
  result.items_left = 3;
  result.next_request_usd = 0.003;
  EngineVerdict verdict = judge_engine_result(result, "entries");
  EXPECT_NE(verdict.errors.at(0).find("spent $0.0215 of $0.0200, $0.0015 over the cap (an answer was longer "
                                      "than its estimate) (next request ~$0.0030); 3 entries left"),
            std::string::npos)
      << verdict.errors[0];
}

TEST(EngineOutcome, ACapNothingFitsUnderSaysSoWithTheFirstRequestsCost) {
  EngineResult result;
  result.models = {model("a")};
  result.budget_exhausted = true;
  result.max_cost_usd = 0.0;
  result.items_left = 5;
  result.next_request_usd = 0.0625;
  EngineVerdict verdict = judge_engine_result(result);
  EXPECT_EQ(verdict.code, ExitCode::policy);
  EXPECT_NE(verdict.errors.at(0).find("before anything was sent: the first request would cost about $0.0625, "
                                      "over the cap of $0.0000; 5 items left — raise --max-cost"),
            std::string::npos)
      << verdict.errors[0];
}

TEST(EngineOutcome, ASpentBudgetWithoutItsCapStillNamesTheSpend) {
  // `score` sums several engine runs, each with what was left of the cap.
  EngineResult result;
  result.models = {model("llm:a")};
  result.budget_exhausted = true;
  result.cost_usd = 1.5;
  result.items_left = 40;
  result.next_request_usd = 0.25;
  EngineVerdict verdict = judge_engine_result(result, "entries");
  EXPECT_NE(verdict.errors.at(0).find(
                "spending cap reached: spent $1.5000 (next request ~$0.2500); 40 entries left"),
            std::string::npos)
      << verdict.errors[0];
}

}  // namespace
}  // namespace medcode::llm
