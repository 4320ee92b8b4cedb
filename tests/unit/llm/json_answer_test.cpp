// Tests of reading JSON out of model answers and checking it against a schema.
#include "medcode/llm/json_answer.h"

#include <gtest/gtest.h>

namespace medcode::llm {
namespace {

using nlohmann::json;

TEST(ExtractJson, FindsJsonAloneInFencesOrInProse) {
  EXPECT_EQ(extract_json(R"({"a": 1})"), json({{"a", 1}}));
  EXPECT_EQ(extract_json("\xEF\xBB\xBF  [1, 2]\n"), json({1, 2}));
  EXPECT_EQ(extract_json("Here you go:\n```json\n{\"a\": [1]}\n```\nAnything else?"), json({{"a", {1}}}));
  EXPECT_EQ(extract_json("```\n{\"b\": true}\n```"), json({{"b", true}}));
  EXPECT_EQ(extract_json(R"(Sure! {"text": "a } inside", "n": 2} Hope it helps)"),
            json({{"text", "a } inside"}, {"n", 2}}));
  EXPECT_FALSE(extract_json("no json here"));
  EXPECT_FALSE(extract_json(R"({"cut": "off)"));
}

json item_schema() {
  return json::parse(R"({
    "type": "object", "required": ["items"],
    "properties": {"items": {"type": "array", "minItems": 1, "items": {
      "type": "object", "required": ["id", "lay"], "additionalProperties": false,
      "properties": {
        "id": {"type": "string", "minLength": 1},
        "lay": {"type": "array", "maxItems": 2, "items": {"type": "string", "minLength": 3}},
        "region": {"enum": ["head", "neck"]},
        "major": {"type": "boolean"},
        "level": {"type": ["integer", "null"], "minimum": 1, "maximum": 5}}}}}})");
}

TEST(ExtractJson, AnAnswerCutMidWayIsToldApartFromProse) {
  EXPECT_TRUE(json_cut_off(R"({"items": [{"code": "A00", "lay": ["x"]}, {"code": "B0)"));
  EXPECT_TRUE(json_cut_off("```json\n[{\"a\": 1}, {\"a\""));
  EXPECT_FALSE(json_cut_off(R"({"items": []})"));
  EXPECT_FALSE(json_cut_off("no JSON here at all"));
  EXPECT_FALSE(json_cut_off(R"(Here it is: {"items": []} as asked.)"));
}

// Thousands of nested or unclosed brackets (a model stuck repeating one) cost a few passes, not a pass per
// bracket: found by fuzzing, when 64 KB took over a minute.
TEST(ExtractJson, GivesUpOnBracketFloodsInLinearTime) {
  std::size_t n = 100000;
  EXPECT_EQ(extract_json(std::string(n, '[') + "x" + std::string(n, ']')), std::nullopt);
  EXPECT_EQ(extract_json("[x] " + std::string(4 * n, '[')), std::nullopt);
  EXPECT_EQ(extract_json("Here it is: [x] then {\"a\": [1, 2]} and more"), json({{"a", {1, 2}}}));
}

TEST(ValidateSchema, AcceptsAValidAnswer) {
  json answer = json::parse(R"({"items": [{"id": "E11.9", "lay": ["sugar"], "region": "head", "major": false,
                                "level": 3.0}, {"id": "I10", "lay": [], "level": null}]})");
  EXPECT_EQ(validate_schema(answer, item_schema()), std::nullopt);
}

TEST(ValidateSchema, NamesThePathAndRuleOfTheFirstViolation) {
  auto problem = [](const std::string& text) {
    return validate_schema(json::parse(text), item_schema()).value_or("");
  };
  EXPECT_EQ(problem(R"({"items": [{"id": "x", "lay": "sugar"}]})"),
            "$.items[0].lay: expected array, got string");
  EXPECT_EQ(problem(R"({"items": [{"lay": []}]})"), "$.items[0]: missing required property 'id'");
  EXPECT_EQ(problem(R"({"items": [{"id": "x", "lay": [], "region": "brain"}]})"),
            "$.items[0].region: 'brain' is not one of head, neck");
  EXPECT_EQ(problem(R"({"items": []})"), "$.items: expected at least 1 items, got 0");
  EXPECT_EQ(problem(R"({"items": [{"id": "x", "lay": ["aaa", "bbb", "ccc"]}]})"),
            "$.items[0].lay: expected at most 2 items, got 3");
  EXPECT_EQ(problem(R"({"items": [{"id": "x", "lay": [], "foo": 1}]})"),
            "$.items[0]: unexpected property 'foo'");
  EXPECT_EQ(problem(R"({"items": [{"id": "", "lay": []}]})"), "$.items[0].id: shorter than 1 characters");
  EXPECT_EQ(problem(R"({"items": [{"id": "x", "lay": [], "level": 2.5}]})"),
            "$.items[0].level: expected integer or null, got number");
  EXPECT_EQ(problem(R"({"items": [{"id": "x", "lay": [], "level": 9}]})"),
            "$.items[0].level: 9 is above the maximum 5");
  EXPECT_EQ(problem(R"([1])"), "$: expected object, got array");
}

}  // namespace
}  // namespace medcode::llm
