// End-to-end test of the pace of `generate` against a provider that counts its limit in one-second windows:
// every item is answered and the provider has next to no cause for a 429 (the even pace leaves no burst on
// top of a window's share). Counts only: how fast it goes is bench/rate_limits.py's business.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/shared_store.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::FakeProvider;
using testing::FakeProviderOptions;
using testing::ProcessResult;
using testing::run_medcode;
using testing::TempDir;

TEST(RateLimitedProvider, OneSecondWindowsAreKeptWithoutA429Storm) {
  TempDir dir;
  fs::copy_file(testing::icd10cm_2023_store(), dir / "m.db");
  FakeProviderOptions options;
  options.requests_per_minute = 1200;  // 20 a second, counted per second
  options.window_seconds = 1;
  options.latency = std::chrono::milliseconds(20);
  FakeProvider fake(options);
  std::ofstream(dir / "medcode.yaml")
      << "models:\n  paced:\n    provider: openai\n    model_id: fake-openai\n    base_url: "
      << fake.base_url("openai")
      << "\n    api_key_env: \"\"\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
         "    requests_per_minute: 1200\n    max_concurrency: 16\n    timeout_seconds: 5\n";
  ProcessResult result = run_medcode({"--db", (dir / "m.db").string(), "--json", "generate", "--task",
                                      "descriptions", "--model", "paced", "--sample", "60", "--count", "1",
                                      "--batch-size", "1"},
                                     dir.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["models"][0]["items_done"], 60);
  std::size_t rate_limited = 0;
  for (const auto& request : fake.requests()) rate_limited += request.status == 429;
  EXPECT_LE(rate_limited, 2U) << "of " << fake.requests().size() << " requests";
}

}  // namespace
}  // namespace medcode
