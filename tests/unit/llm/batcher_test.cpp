// Tests of the adaptive batcher: the batch-size policy, AIMD concurrency, bounds and recorded reasons.
#include "medcode/llm/batcher.h"

#include <gtest/gtest.h>

namespace medcode::llm {
namespace {

using std::chrono::duration;
const duration<double> k_fast{0.1};
const duration<double> k_slow{1.0};

TEST(AdaptiveBatcher, StartsAtTenAndGrowsByOneAfterThreeStraightSuccesses) {
  AdaptiveBatcher batcher(BatchPolicy{}, 4, 32);
  EXPECT_EQ(batcher.batch_size(), 10);
  auto start = batcher.take_changes();
  ASSERT_EQ(start.size(), 1u);
  EXPECT_EQ(start[0].reason, "start");
  batcher.record(Outcome::success, k_fast);
  batcher.record(Outcome::success, k_fast);
  EXPECT_EQ(batcher.batch_size(), 10);
  batcher.record(Outcome::success, k_fast);
  EXPECT_EQ(batcher.batch_size(), 11);
  for (int i = 0; i < 3; ++i) batcher.record(Outcome::success, k_fast);
  EXPECT_EQ(batcher.batch_size(), 12);
}

TEST(AdaptiveBatcher, ShrinksAfterTwoFailuresAndAtOnceOnATimeout) {
  AdaptiveBatcher batcher(BatchPolicy{}, 4, 32);
  batcher.record(Outcome::failure, k_fast);
  EXPECT_EQ(batcher.batch_size(), 10);
  batcher.record(Outcome::failure, k_fast);
  EXPECT_EQ(batcher.batch_size(), 9);
  batcher.record(Outcome::timeout, k_slow);
  EXPECT_EQ(batcher.batch_size(), 8);
  // A success in between breaks the run of failures.
  batcher.record(Outcome::failure, k_fast);
  batcher.record(Outcome::success, k_fast);
  batcher.record(Outcome::failure, k_fast);
  EXPECT_EQ(batcher.batch_size(), 8);
}

TEST(AdaptiveBatcher, StaysWithinItsBounds) {
  AdaptiveBatcher batcher(BatchPolicy{2, 1, 3}, 1, 1);
  for (int i = 0; i < 30; ++i) batcher.record(Outcome::success, k_fast);
  EXPECT_EQ(batcher.batch_size(), 3);
  for (int i = 0; i < 30; ++i) batcher.record(Outcome::timeout, k_fast);
  EXPECT_EQ(batcher.batch_size(), 1);
  EXPECT_EQ(batcher.concurrency(), 1);
  AdaptiveBatcher clamped(BatchPolicy{100, 1, 50}, 99, 8);
  EXPECT_EQ(clamped.batch_size(), 50);
  EXPECT_EQ(clamped.concurrency(), 8);
}

TEST(AdaptiveBatcher, ConcurrencyGrowsAfterAWindowOfFastSuccessesAndHalvesOnPushback) {
  AdaptiveBatcher batcher(BatchPolicy{}, 4, 32);
  for (int i = 0; i < 4; ++i) batcher.record(Outcome::success, k_fast);
  EXPECT_EQ(batcher.concurrency(), 5);
  batcher.record(Outcome::success, k_slow);  // slow: the provider is queueing, the window restarts
  for (int i = 0; i < 4; ++i) batcher.record(Outcome::success, k_fast);
  EXPECT_EQ(batcher.concurrency(), 5);
  batcher.record(Outcome::success, k_fast);
  EXPECT_EQ(batcher.concurrency(), 6);
  batcher.record(Outcome::rate_limited, k_fast);
  EXPECT_EQ(batcher.concurrency(), 3);
  batcher.record(Outcome::overloaded, k_fast);
  EXPECT_EQ(batcher.concurrency(), 1);
  batcher.record(Outcome::failure, k_fast);  // an invalid answer is no reason to slow down
  EXPECT_EQ(batcher.concurrency(), 1);
}

TEST(AdaptiveBatcher, RecordsEachChangeWithItsReason) {
  AdaptiveBatcher batcher(BatchPolicy{}, 2, 32);
  batcher.take_changes();
  for (int i = 0; i < 3; ++i) batcher.record(Outcome::success, k_fast);
  batcher.record(Outcome::timeout, k_slow);
  batcher.record(Outcome::rate_limited, k_fast);
  batcher.record(Outcome::rate_limited, k_fast);
  std::vector<std::string> reasons;
  for (const auto& change : batcher.take_changes()) reasons.push_back(change.reason);
  EXPECT_EQ(reasons, (std::vector<std::string>{"fast successes", "3 straight successes", "timeout",
                                               "2 failures, 429 rate limited"}));
  EXPECT_TRUE(batcher.take_changes().empty());
}

TEST(AdaptiveBatcher, DescribesEachChangeWithWhatItWasAndWhy) {
  AdaptiveBatcher batcher(BatchPolicy{}, 1, 1);
  EXPECT_EQ(describe_batch_change(batcher.take_changes().at(0)), "") << "the start is no change";
  for (int i = 0; i < 3; ++i) batcher.record(Outcome::success, k_fast);
  batcher.record(Outcome::failure, k_fast);
  batcher.record(Outcome::failure, k_fast);
  batcher.record(Outcome::timeout, k_slow);
  std::vector<std::string> lines;
  for (const auto& change : batcher.take_changes()) lines.push_back(describe_batch_change(change));
  EXPECT_EQ(lines, (std::vector<std::string>{"batch size 10 → 11 after 3 straight successes",
                                             "batch size 11 → 10 after 2 failures",
                                             "batch size 10 → 9 after a timeout"}));
  AdaptiveBatcher pushed(BatchPolicy{}, 4, 32);
  pushed.take_changes();
  pushed.record(Outcome::failure, k_fast);
  pushed.record(Outcome::rate_limited, k_fast);
  pushed.record(Outcome::overloaded, k_fast);
  pushed.fix_batch_size(1);
  lines.clear();
  for (const auto& change : pushed.take_changes()) lines.push_back(describe_batch_change(change));
  EXPECT_EQ(lines,
            (std::vector<std::string>{
                "batch size 10 → 9 and concurrency 4 → 2 after 2 failures and a 429 (rate limited)",
                "concurrency 2 → 1 after an overloaded error", "batch size 9 → 1, fixed by --batch-size"}));
}

TEST(AdaptiveBatcher, FixedBatchSizeNoLongerAdaptsButConcurrencyDoes) {
  AdaptiveBatcher batcher(BatchPolicy{}, 4, 32);
  batcher.fix_batch_size(1);
  for (int i = 0; i < 10; ++i) batcher.record(Outcome::success, k_fast);
  batcher.record(Outcome::timeout, k_fast);
  EXPECT_EQ(batcher.batch_size(), 1);
  EXPECT_LT(batcher.concurrency(), 6);
}

}  // namespace
}  // namespace medcode::llm
