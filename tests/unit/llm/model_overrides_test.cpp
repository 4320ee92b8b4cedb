// Tests of the limits the command line sets on every configured model (--rate-limit, --max-output-tokens).
#include <gtest/gtest.h>

#include "medcode/llm/model_config.h"
#include "medcode/util/error.h"

namespace medcode::llm {
namespace {

TEST(ModelOverrides, SetTheGivenLimitsOnEveryModelAndKeepTheOthers) {
  ModelRegistry registry = ModelRegistry::defaults();
  registry.overlay("models:\n  local:\n    provider: exec\n    command: [cat]\n    tokens_per_minute: 900\n",
                   "test");
  registry.apply({.requests_per_minute = 7, .max_output_tokens = std::nullopt});
  for (const auto& name : registry.names()) {
    EXPECT_EQ(registry.get(name).requests_per_minute, 7) << name;
  }
  EXPECT_EQ(registry.get("local").tokens_per_minute, 900);
  int configured = ModelRegistry::defaults().get("gpt-4o-mini").max_output_tokens;
  EXPECT_EQ(registry.get("gpt-4o-mini").max_output_tokens, configured);

  registry.apply({.requests_per_minute = std::nullopt, .max_output_tokens = 321});
  EXPECT_EQ(registry.get("gpt-4o-mini").max_output_tokens, 321);
  EXPECT_EQ(registry.get("gpt-4o-mini").requests_per_minute, 7);
}

TEST(ModelOverrides, ALimitBelowOneIsAUsageErrorNamingTheOption) {
  ModelRegistry registry = ModelRegistry::defaults();
  for (const ModelOverrides& bad :
       {ModelOverrides{.requests_per_minute = 0, .max_output_tokens = std::nullopt},
        ModelOverrides{.requests_per_minute = std::nullopt, .max_output_tokens = -5}}) {
    try {
      registry.apply(bad);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage);
      EXPECT_NE(std::string(e.what()).find(bad.requests_per_minute ? "--rate-limit" : "--max-output-tokens"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace medcode::llm
