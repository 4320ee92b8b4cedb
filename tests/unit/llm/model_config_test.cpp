// Tests of the model table: built-in defaults, user overlays, bad keys, API keys from the environment.
#include "medcode/llm/model_config.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "medcode/util/error.h"

namespace medcode::llm {
namespace {

ExitCode code_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.code();
  }
  return ExitCode::ok;
}

TEST(ModelRegistry, BuiltInTableHasPricedModelsOfEveryProviderWithADate) {
  ModelRegistry registry = ModelRegistry::defaults();
  const ModelConfig& mini = registry.get("gpt-4o-mini");
  EXPECT_EQ(mini.provider, ProviderKind::openai);
  EXPECT_EQ(mini.api_key_env, "OPENAI_API_KEY");
  EXPECT_GT(mini.pricing.output_per_million, mini.pricing.input_per_million);
  EXPECT_FALSE(mini.pricing.as_of.empty());
  EXPECT_EQ(registry.get("claude-3-5-haiku").provider, ProviderKind::anthropic);
  EXPECT_EQ(registry.get("gemini-2.0-flash").provider, ProviderKind::gemini);
  EXPECT_TRUE(registry.get("local").phi_allowed);
  EXPECT_TRUE(registry.get("local").api_key_env.empty());
}

TEST(ModelRegistry, UserOverlayChangesOneKeyAndKeepsTheRest) {
  ModelRegistry registry = ModelRegistry::defaults();
  registry.overlay("models:\n  gpt-4o-mini:\n    requests_per_minute: 42\n", "user.yaml");
  const ModelConfig& mini = registry.get("gpt-4o-mini");
  EXPECT_EQ(mini.requests_per_minute, 42);
  EXPECT_EQ(mini.model_id, "gpt-4o-mini");
  EXPECT_DOUBLE_EQ(mini.pricing.input_per_million, 0.15);
}

TEST(ModelRegistry, AddsAModelWithBatchLimitsAndAnExecCommand) {
  ModelRegistry registry = ModelRegistry::defaults();
  registry.overlay(
      "models:\n  mine:\n    provider: exec\n    command: [my-llm, --json]\n    batch_size: 5\n"
      "    max_batch_size: 8\n    json_mode: none\n",
      "user.yaml");
  const ModelConfig& mine = registry.get("mine");
  EXPECT_EQ(mine.provider, ProviderKind::exec);
  EXPECT_EQ(mine.command, (std::vector<std::string>{"my-llm", "--json"}));
  EXPECT_EQ(mine.batch.initial, 5);
  EXPECT_EQ(mine.batch.max, 8);
  EXPECT_EQ(mine.json_mode, JsonMode::none);
  EXPECT_EQ(mine.requests_per_minute, 0);  // a local command has no provider limit by default
}

TEST(ModelRegistry, BaseUrlDefaultsPerProviderAndLosesItsTrailingSlash) {
  ModelRegistry registry = ModelRegistry::defaults();
  registry.overlay(
      "models:\n  a:\n    provider: anthropic\n    model_id: x\n  b:\n    provider: openai\n"
      "    model_id: y\n    base_url: http://127.0.0.1:8080/v1/\n",
      "user.yaml");
  EXPECT_EQ(registry.get("a").base_url, "https://api.anthropic.com/v1");
  EXPECT_EQ(registry.get("b").base_url, "http://127.0.0.1:8080/v1");
}

TEST(ModelRegistry, RefusesUnknownKeysProvidersTypesAndKeysInTheFile) {
  auto overlay = [](const std::string& yaml) {
    return code_of([&] { ModelRegistry::defaults().overlay(yaml, "user.yaml"); });
  };
  EXPECT_EQ(overlay("models:\n  gpt-4o-mini:\n    request_per_minute: 5\n"), ExitCode::usage);
  EXPECT_EQ(overlay("models:\n  x:\n    provider: cohere\n    model_id: c\n"), ExitCode::usage);
  EXPECT_EQ(overlay("models:\n  gpt-4o-mini:\n    requests_per_minute: lots\n"), ExitCode::usage);
  EXPECT_EQ(overlay("models:\n  gpt-4o-mini:\n    api_key: sk-123\n"), ExitCode::usage);
  EXPECT_EQ(overlay("models:\n  x:\n    model_id: c\n"), ExitCode::usage);     // a new model needs a provider
  EXPECT_EQ(overlay("models:\n  x:\n    provider: exec\n"), ExitCode::usage);  // exec needs a command
  EXPECT_EQ(overlay("models:\n  gpt-4o-mini:\n    min_batch_size: 9\n    max_batch_size: 3\n"),
            ExitCode::usage);
  EXPECT_EQ(overlay("models: [\n"), ExitCode::usage);
}

TEST(ModelRegistry, UnknownModelNameListsTheConfiguredOnes) {
  try {
    ModelRegistry::defaults().get("gpt-5-turbo");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("gpt-4o-mini"), std::string::npos);
  }
}

TEST(ApiKey, ComesFromTheEnvironmentAndAMissingOneNamesTheVariableOnly) {
  ModelConfig model;
  model.name = "m";
  model.api_key_env = "MEDCODE_TEST_KEY_VARIABLE";
  ::unsetenv("MEDCODE_TEST_KEY_VARIABLE");
  try {
    api_key(model);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("MEDCODE_TEST_KEY_VARIABLE"), std::string::npos);
  }
  ::setenv("MEDCODE_TEST_KEY_VARIABLE", "secret-value", 1);
  EXPECT_EQ(api_key(model), "secret-value");
  model.api_key_env.clear();
  EXPECT_EQ(api_key(model), std::nullopt);
  ::unsetenv("MEDCODE_TEST_KEY_VARIABLE");
}

}  // namespace
}  // namespace medcode::llm
