// Tests of the descriptions and facets tasks: what the prompt holds and how answers are read per item.
#include "medcode/dataset/llm_tasks.h"

#include <gtest/gtest.h>

namespace medcode::dataset {
namespace {

std::vector<llm::WorkItem> two_codes() {
  return {{"E11.9", {{"id", "E11.9"}, {"description", "Type 2 diabetes mellitus without complications"}}},
          {"I10", {{"id", "I10"}, {"description", "Essential (primary) hypertension"}}}};
}

DescriptionsTask descriptions(int count = 2) {
  return DescriptionsTask(load_prompt_template("descriptions", std::nullopt), "ICD-10-CM", count);
}

TEST(DescriptionsTask, PromptCarriesTheItemsAsJsonTheCountAndTheSchema) {
  auto items = two_codes();
  llm::ChatRequest request = descriptions(4).make_request(items);
  ASSERT_EQ(request.messages.size(), 1u);
  const std::string& user = request.messages[0].content;
  EXPECT_NE(user.find("COUNT: 4"), std::string::npos);
  auto items_at = user.find("ITEMS:\n");
  ASSERT_NE(items_at, std::string::npos);
  auto items_json = nlohmann::json::parse(user.substr(items_at + 7));
  EXPECT_EQ(items_json[1]["id"], "I10");
  EXPECT_NE(request.system.find("ICD-10-CM"), std::string::npos);
  EXPECT_NE(request.system.find("\"clinical\""), std::string::npos);
  ASSERT_TRUE(request.schema);
  EXPECT_EQ(request.schema_name, "descriptions");
}

TEST(DescriptionsTask, ReadsEachItemDedupesTextsAndKeepsAtMostCount) {
  auto items = two_codes();
  nlohmann::json answer = nlohmann::json::parse(R"({"items": [
    {"id": "E11.9", "clinical": ["T2DM without complications", "t2dm  without complications", "NIDDM, stable", "x"],
     "lay": ["sugar diabetes", "adult onset diabetes", "type two diabetes"]},
    {"id": "I10", "clinical": ["HTN"], "lay": ["high blood pressure"]}]})");
  llm::AnswerReading reading = descriptions(2).read_answer(answer, items);
  ASSERT_FALSE(reading.problem);
  ASSERT_EQ(reading.results.size(), 2u);
  EXPECT_EQ(reading.results[0].value["clinical"],
            nlohmann::json({"T2DM without complications", "NIDDM, stable"}));
  EXPECT_EQ(reading.results[0].value["lay"].size(), 2u);
  EXPECT_EQ(reading.results[1].key, "I10");
}

TEST(DescriptionsTask, AnswerCoveringPartOfTheBatchIsKeptForThoseItems) {
  auto items = two_codes();
  nlohmann::json answer = {
      {"items", {{{"id", "I10"}, {"clinical", {"HTN"}}, {"lay", {"high blood pressure"}}}}}};
  llm::AnswerReading reading = descriptions().read_answer(answer, items);
  EXPECT_FALSE(reading.problem);
  ASSERT_EQ(reading.results.size(), 1u);
  EXPECT_EQ(reading.results[0].key, "I10");
}

TEST(DescriptionsTask, AnswerWithOnlyUnknownIdsIsAProblemToRepair) {
  auto items = two_codes();
  nlohmann::json answer = {{"items", {{{"id", "Z99.9"}, {"clinical", {"abc"}}, {"lay", {"abc"}}}}}};
  llm::AnswerReading reading = descriptions().read_answer(answer, items);
  ASSERT_TRUE(reading.problem);
  EXPECT_NE(reading.problem->find("Z99.9"), std::string::npos);
  EXPECT_NE(descriptions().repair_message(*reading.problem).find("Z99.9"), std::string::npos);
}

TEST(FacetsTask, StoresTheFacetsWithoutTheId) {
  FacetsTask task(load_prompt_template("facets", std::nullopt), "HCPCS Level II");
  std::vector<llm::WorkItem> items = {
      {"A0428", {{"id", "A0428"}, {"description", "Ambulance service, BLS"}}}};
  nlohmann::json answer = {
      {"items", {{{"id", "A0428"}, {"procedure_category", "transportation"}, {"uses_contrast", false}}}}};
  llm::AnswerReading reading = task.read_answer(answer, items);
  ASSERT_EQ(reading.results.size(), 1u);
  EXPECT_FALSE(reading.results[0].value.contains("id"));
  EXPECT_EQ(reading.results[0].value["procedure_category"], "transportation");
  EXPECT_GT(task.expected_output_tokens(items), 50);
}

}  // namespace
}  // namespace medcode::dataset
