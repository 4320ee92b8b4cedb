// Tests of prompt templates: the built-in ones parse with their schemas, overrides win, bad files are named.
#include "medcode/llm/prompt_template.h"

#include <gtest/gtest.h>

#include <fstream>

#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::llm {
namespace {

TEST(PromptTemplate, BuiltInDescriptionsTemplateHasPromptsAndSchema) {
  PromptTemplate prompt = load_prompt_template("descriptions", std::nullopt);
  EXPECT_NE(prompt.user.find("{{items}}"), std::string::npos);
  EXPECT_NE(prompt.system.find("{{schema}}"), std::string::npos);
  EXPECT_NE(prompt.repair.find("{{problem}}"), std::string::npos);
  EXPECT_EQ(prompt.schema["properties"]["items"]["type"], "array");
  EXPECT_EQ(prompt.schema["properties"]["items"]["minItems"], 1);  // YAML integers stay integers
}

TEST(PromptTemplate, BuiltInFacetsSchemaKeepsBooleansAndEnums) {
  PromptTemplate prompt = load_prompt_template("facets", std::nullopt);
  const auto& item = prompt.schema["properties"]["items"]["items"];
  EXPECT_EQ(item["additionalProperties"], false);
  EXPECT_EQ(item["properties"]["uses_contrast"]["type"], "boolean");
  EXPECT_EQ(item["required"].size(), 12u);
  EXPECT_EQ(item["properties"]["imaging_modality"]["enum"].size(), 9u);
}

TEST(PromptTemplate, AFolderOverridesTheBuiltInTemplateFileByFile) {
  testing::TempDir dir;
  std::ofstream(dir / "descriptions.yaml")
      << "system: S\nuser: U {{items}}\nrepair: R\nschema: {type: object}\n";
  EXPECT_EQ(load_prompt_template("descriptions", dir.path()).system, "S");
  EXPECT_NE(load_prompt_template("facets", dir.path()).system, "S");
}

TEST(PromptTemplate, AnIncompleteOrBrokenTemplateIsAUsageErrorNamingTheFile) {
  testing::TempDir dir;
  std::ofstream(dir / "descriptions.yaml") << "system: S\nuser: U\n";
  try {
    load_prompt_template("descriptions", dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("descriptions.yaml"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("repair"), std::string::npos);
  }
  EXPECT_THROW(parse_prompt_template("x", "system: [", "x.yaml"), Error);
  EXPECT_THROW(load_prompt_template("no-such-task", std::nullopt), Error);
}

TEST(Render, ReplacesKnownPlaceholdersAndLeavesOthers) {
  EXPECT_EQ(render("{{a}} and {{b}} and {{a}}", {{"a", "1"}}), "1 and {{b}} and 1");
  EXPECT_EQ(render("no placeholders {{", {}), "no placeholders {{");
}

}  // namespace
}  // namespace medcode::llm
