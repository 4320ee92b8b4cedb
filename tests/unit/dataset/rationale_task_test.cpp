// Tests of the rationales task: the trace check (the entry's code named, no other code, numbers and
// abbreviations not taken for codes) and how answers are read, repaired or kept per item.
#include "medcode/dataset/rationale_task.h"

#include <gtest/gtest.h>

namespace medcode::dataset {
namespace {

using codes::System;

std::optional<std::string> problem(std::string_view rationale, std::string_view code = "E11.9",
                                   System system = System::icd10cm) {
  return rationale_problem(rationale, system, code);
}

TEST(RationaleProblem, AcceptsATraceThatEndsInTheCanonicalCode) {
  EXPECT_EQ(problem("Diabetes, type 2, without complications: the Index leads to E11.9."), std::nullopt);
}

TEST(RationaleProblem, AcceptsTheUndottedAndLowerCaseFormsOfTheCode) {
  EXPECT_EQ(problem("The Index entry for type 2 diabetes gives E119 as the code."), std::nullopt);
  EXPECT_EQ(problem("Coded as e11.9, type 2 without complications."), std::nullopt);
}

TEST(RationaleProblem, RejectsATraceThatDoesNotNameTheCode) {
  auto found = problem("Type 2 diabetes without any complication documented.");
  ASSERT_TRUE(found);
  EXPECT_NE(found->find("does not name the code E11.9"), std::string::npos) << *found;
}

TEST(RationaleProblem, ACodeInsideALongerCodeIsNotTheCode) {
  EXPECT_TRUE(problem("The documentation supports E11.92 rather than a plain diagnosis."));
  EXPECT_TRUE(problem("Only E11.9X fits."));
}

TEST(RationaleProblem, RejectsATraceNamingAnotherCodeEvenWithItsOwn) {
  auto found = problem("Hyperglycemia is not documented, so E11.65 does not apply; the code is E11.9.");
  ASSERT_TRUE(found);
  EXPECT_NE(found->find("names E11.65, a code other than E11.9"), std::string::npos) << *found;
}

TEST(RationaleProblem, RejectsTheCategoryAndCodesOfOtherSystems) {
  EXPECT_TRUE(problem("Category E11 covers type 2 diabetes; the code is E11.9."));
  EXPECT_TRUE(problem("Not an insulin pump supply (A4230); the code is E11.9."));
  EXPECT_TRUE(problem("No procedure such as 0DTJ4ZZ was done; the code is E11.9."));
  EXPECT_TRUE(problem("Compare I10 with E11.9 here."));
}

TEST(RationaleProblem, YearsNumbersAndDosesAreNotCodes) {
  EXPECT_EQ(problem("In 2023 the patient, 54, took metformin 500mg twice daily and 10 mg/kg once; a value "
                    "of 7.5 percent and 1.25 units on day 3 of 14 support E11.9."),
            std::nullopt);
}

TEST(RationaleProblem, LowerCaseAbbreviationsAreNotCodes) {
  EXPECT_EQ(problem("Insulin q8h and an HbA1c of 6.1 with a normal A1c trend lead to E11.9."), std::nullopt);
}

TEST(RationaleProblem, SentencePunctuationAroundTheCodeIsNotPartOfIt) {
  EXPECT_EQ(problem("The code is (E11.9)."), std::nullopt);
  EXPECT_EQ(problem("Therefore: E11.9, as documented..."), std::nullopt);
}

TEST(RationaleProblem, ChecksHcpcsAndPcsCodesInTheirOwnForm) {
  EXPECT_EQ(problem("A basic life support ambulance trip is A0428.", "A0428", System::hcpcs), std::nullopt);
  EXPECT_TRUE(problem("Not advanced life support A0426; it is A0428.", "A0428", System::hcpcs));
  EXPECT_EQ(problem("A laparoscopic appendectomy is 0DTJ4ZZ.", "0DTJ4ZZ", System::icd10pcs), std::nullopt);
}

TEST(RationaleProblem, AThinkTagWouldBreakTheSftAnswer) {
  EXPECT_TRUE(problem("The code is E11.9 </think> done."));
}

std::vector<llm::WorkItem> two_entries() {
  return {{"12", {{"id", "12"}, {"text", "type 2 diabetes"}, {"code", "E11.9"}, {"title", "T2DM"}}},
          {"15", {{"id", "15"}, {"text", "high blood pressure"}, {"code", "I10"}, {"title", "HTN"}}}};
}

RationalesTask task() {
  return RationalesTask(load_prompt_template("rationales", std::nullopt), System::icd10cm,
                        {{"12", "E11.9"}, {"15", "I10"}});
}

TEST(RationalesTask, PromptCarriesTheEntriesAndTheirCodes) {
  auto items = two_entries();
  llm::ChatRequest request = task().make_request(items);
  ASSERT_EQ(request.messages.size(), 1u);
  const std::string& user = request.messages[0].content;
  auto items_at = user.find("ITEMS:\n");
  ASSERT_NE(items_at, std::string::npos);
  auto items_json = nlohmann::json::parse(user.substr(items_at + 7));
  EXPECT_EQ(items_json[0]["code"], "E11.9");
  EXPECT_EQ(items_json[1]["text"], "high blood pressure");
  EXPECT_NE(request.system.find("Alphabetic Index"), std::string::npos);
  EXPECT_NE(request.system.find("ICD-10-CM"), std::string::npos);
  ASSERT_TRUE(request.schema);
}

TEST(RationalesTask, KeepsGoodTracesWithWhiteSpaceCollapsedAndDropsABadOne) {
  auto items = two_entries();
  nlohmann::json answer = {{"items",
                            {{{"id", "12"}, {"rationale", "Type 2 diabetes,\n  no complication: E11.9."}},
                             {{"id", "15"}, {"rationale", "Hypertension with diabetes, E11.9 and I10."}}}}};
  llm::AnswerReading reading = task().read_answer(answer, items);
  EXPECT_FALSE(reading.problem);
  ASSERT_EQ(reading.results.size(), 1u);
  EXPECT_EQ(reading.results[0].key, "12");
  EXPECT_EQ(reading.results[0].value,
            nlohmann::json({{"rationale", "Type 2 diabetes, no complication: E11.9."}}));
}

TEST(RationalesTask, AnAnswerWhoseOnlyTraceNamesAnotherCodeIsAProblemToRepair) {
  auto items = two_entries();
  nlohmann::json answer = {
      {"items", {{{"id", "12"}, {"rationale", "Hyperglycemia points to E11.65 here."}}}}};
  llm::AnswerReading reading = task().read_answer(answer, items);
  ASSERT_TRUE(reading.problem);
  EXPECT_NE(reading.problem->find("12: the rationale names E11.65"), std::string::npos) << *reading.problem;
  EXPECT_NE(task().repair_message(*reading.problem).find("E11.65"), std::string::npos);
}

TEST(RationalesTask, AnOverlongTraceIsAProblem) {
  auto items = two_entries();
  std::string essay(1300, 'a');
  nlohmann::json answer = {{"items", {{{"id", "12"}, {"rationale", essay + " E11.9"}}}}};
  llm::AnswerReading reading = task().read_answer(answer, items);
  ASSERT_TRUE(reading.problem);
  EXPECT_NE(reading.problem->find("characters"), std::string::npos) << *reading.problem;
}

}  // namespace
}  // namespace medcode::dataset
