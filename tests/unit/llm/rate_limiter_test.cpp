// Tests of the rate limiter on a fake clock: steady pace at the limit, token limits, headers, pauses.
#include "medcode/llm/rate_limiter.h"

#include <gtest/gtest.h>

namespace medcode::llm {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Acquires whenever allowed, stepping the clock 1 ms at a time, for `span`; returns how many went.
int run_for(RateLimiter& limiter, Clock::time_point start, Clock::duration span, std::int64_t tokens = 1) {
  int sent = 0;
  for (auto now = start; now < start + span; now += milliseconds(1)) {
    while (limiter.wait_time(tokens, now) == Clock::duration::zero()) {
      limiter.acquire(tokens, now);
      ++sent;
    }
  }
  return sent;
}

TEST(RateLimiter, SpreadsRequestsEvenlyAndReachesTheLimitOverAMinute) {
  Clock::time_point start{};
  RateLimiter limiter(3000, 0, start);
  int sent = run_for(limiter, start, seconds(60));
  EXPECT_NEAR(sent, 3000, 60);
  // No burst: in the first tenth of a second at most one second's worth (50) goes.
  RateLimiter fresh(3000, 0, start);
  EXPECT_LE(run_for(fresh, start, milliseconds(100)), 55);
}

TEST(RateLimiter, SlowLimitWaitsTheRightTime) {
  Clock::time_point start{};
  RateLimiter limiter(6, 0, start);  // one request every 10 s
  EXPECT_EQ(limiter.wait_time(1, start), Clock::duration::zero());
  limiter.acquire(1, start);
  auto wait = limiter.wait_time(1, start);
  EXPECT_NEAR(std::chrono::duration<double>(wait).count(), 10.0, 0.01);
  EXPECT_EQ(limiter.wait_time(1, start + wait), Clock::duration::zero());
}

TEST(RateLimiter, TokenLimitHoldsBackLargeRequestsAndSettleGivesBackTheEstimate) {
  Clock::time_point start{};
  RateLimiter limiter(0, 60000, start);  // 1000 tokens a second
  EXPECT_EQ(limiter.wait_time(800, start), Clock::duration::zero());
  limiter.acquire(800, start);
  EXPECT_GT(limiter.wait_time(800, start), Clock::duration::zero());
  limiter.settle(800, 100);  // the request used far less than reserved
  EXPECT_EQ(limiter.wait_time(800, start), Clock::duration::zero());
  // Larger than the bucket: goes once the bucket is full.
  RateLimiter small(0, 600, start);  // 10 tokens a second
  EXPECT_EQ(small.wait_time(5000, start), Clock::duration::zero());
  small.acquire(5000, start);
  EXPECT_GT(small.wait_time(1, start + seconds(100)), Clock::duration::zero());
}

TEST(RateLimiter, ZeroRemainingWithResetAndRetryAfterPause) {
  Clock::time_point start{};
  RateLimiter limiter(6000, 0, start);
  RateLimitInfo info;
  info.remaining_requests = 0;
  info.reset_requests_seconds = 2.0;
  limiter.update(info, start);
  EXPECT_GE(limiter.wait_time(1, start), seconds(2) - milliseconds(1));
  EXPECT_EQ(limiter.wait_time(1, start + seconds(3)), Clock::duration::zero());
  RateLimitInfo retry;
  retry.retry_after_seconds = 5;
  limiter.update(retry, start + seconds(3));
  EXPECT_GE(limiter.wait_time(1, start + seconds(3)), seconds(5) - milliseconds(1));
}

TEST(RateLimiter, LowerLimitFromHeadersReplacesTheConfiguredOne) {
  Clock::time_point start{};
  RateLimiter limiter(3000, 100000, start);
  RateLimitInfo info;
  info.limit_requests = 500;
  info.limit_tokens = 40000;
  limiter.update(info, start);
  EXPECT_EQ(limiter.requests_per_minute(), 500);
  EXPECT_EQ(limiter.tokens_per_minute(), 40000);
  info.limit_requests = 10000;  // never raised above the configuration
  limiter.update(info, start);
  EXPECT_EQ(limiter.requests_per_minute(), 500);
}

TEST(RateLimiter, PenaltyPausesAndEmptiesTheRequestBucket) {
  Clock::time_point start{};
  RateLimiter limiter(600, 0, start);
  limiter.penalize(seconds(1), start);
  EXPECT_GE(limiter.wait_time(1, start), seconds(1) - milliseconds(1));
  EXPECT_EQ(limiter.wait_time(1, start + milliseconds(1100)), Clock::duration::zero());
}

TEST(RateLimiter, NoLimitsNeverWait) {
  Clock::time_point start{};
  RateLimiter limiter(0, 0, start);
  for (int i = 0; i < 1000; ++i) limiter.acquire(100000, start);
  EXPECT_EQ(limiter.wait_time(100000, start), Clock::duration::zero());
}

}  // namespace
}  // namespace medcode::llm
