// Tests of retry delays and request costs.
#include <gtest/gtest.h>

#include "medcode/llm/backoff.h"
#include "medcode/llm/pricing.h"

namespace medcode::llm {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DelaysGrowExponentiallyWithJitterUpToTheCap) {
  Backoff backoff(BackoffPolicy{milliseconds(100), milliseconds(1000)}, 7);
  for (int attempt = 1; attempt <= 8; ++attempt) {
    milliseconds ceiling = std::min(milliseconds(1000), milliseconds(100 << (attempt - 1)));
    for (int i = 0; i < 50; ++i) {
      auto delay = backoff.delay(attempt);
      EXPECT_GE(delay.count(), 0);
      EXPECT_LE(delay, ceiling);
    }
  }
}

TEST(Backoff, RetryAfterIsAFloorWithALittleJitter) {
  Backoff backoff(BackoffPolicy{milliseconds(100), milliseconds(1000)}, 7);
  for (int i = 0; i < 50; ++i) {
    auto delay = backoff.delay(1, 3.0);
    EXPECT_GE(delay, milliseconds(3000));
    EXPECT_LE(delay, milliseconds(3300));
  }
}

TEST(Backoff, SameSeedSameDelays) {
  Backoff a(BackoffPolicy{}, 42);
  Backoff b(BackoffPolicy{}, 42);
  for (int attempt = 1; attempt < 6; ++attempt) EXPECT_EQ(a.delay(attempt), b.delay(attempt));
}

TEST(Pricing, BillsCachedInputAtItsOwnPrice) {
  Pricing pricing{0.15, 0.60, 0.075, "2025-06-01"};
  Usage usage{1'000'000, 500'000, 400'000, false};
  // 600k uncached at 0.15, 400k cached at 0.075, 500k out at 0.60
  EXPECT_NEAR(cost_usd(pricing, usage), 0.09 + 0.03 + 0.30, 1e-12);
  pricing.cached_input_per_million.reset();
  EXPECT_NEAR(cost_usd(pricing, usage), 0.15 + 0.30, 1e-12);
}

TEST(Pricing, MaximumCostAssumesEveryOutputTokenIsUsed) {
  Pricing pricing{3.0, 15.0, 0.3, "2025-06-01"};
  EXPECT_NEAR(max_cost_usd(pricing, 2000, 4096), (2000 * 3.0 + 4096 * 15.0) / 1e6, 1e-12);
  EXPECT_EQ(max_cost_usd(Pricing{}, 2000, 4096), 0.0);
}

}  // namespace
}  // namespace medcode::llm
