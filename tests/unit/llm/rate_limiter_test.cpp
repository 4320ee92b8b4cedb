// Tests of the rate limiter on a fake clock: an even pace under the limit with no burst, so that no one-,
// ten- or sixty-second window overflows; token limits, headers, pauses, and a slower pace after a 429.
#include "medcode/llm/rate_limiter.h"

#include <gtest/gtest.h>

#include <deque>
#include <vector>

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

// The most requests sent in any window of `window` (sliding), from their send times.
std::size_t busiest(const std::vector<Clock::time_point>& sent, Clock::duration window) {
  std::size_t most = 0;
  std::deque<Clock::time_point> in_window;
  for (auto at : sent) {
    in_window.push_back(at);
    while (in_window.front() <= at - window) in_window.pop_front();
    most = std::max(most, in_window.size());
  }
  return most;
}

TEST(RateLimiter, SpreadsRequestsEvenlyUnderTheLimitInEveryWindow) {
  Clock::time_point start{};
  RateLimiter limiter(3000, 0, start);
  std::vector<Clock::time_point> sent;
  for (auto now = start; now < start + seconds(60); now += milliseconds(1)) {
    while (limiter.wait_time(1, now) == Clock::duration::zero()) {
      limiter.acquire(1, now);
      sent.push_back(now);
    }
  }
  EXPECT_GE(sent.size(), 2700U);  // at least 90% of the limit
  EXPECT_LE(sent.size(), 3000U);
  // No burst on top of the pace: a provider counting per second (50), per ten seconds (500) or per minute
  // (3000) never sees more than its window allows.
  EXPECT_LE(busiest(sent, seconds(1)), 50U);
  EXPECT_LE(busiest(sent, seconds(10)), 500U);
  EXPECT_LE(busiest(sent, seconds(60)), 3000U);
  RateLimiter fresh(3000, 0, start);
  EXPECT_LE(run_for(fresh, start, milliseconds(100)), 6);
}

TEST(RateLimiter, A429SlowsThePaceAndAnswersRestoreIt) {
  Clock::time_point start{};
  RateLimiter limiter(6000, 0, start);
  EXPECT_DOUBLE_EQ(limiter.pace(), 0.95);
  limiter.penalize(seconds(1), start);
  EXPECT_LT(limiter.pace(), 0.85);
  // Nothing is owed for the pause: after it, the slower pace, not a burst.
  EXPECT_LE(run_for(limiter, start + seconds(1), milliseconds(1000)), 81);
  for (int i = 0; i < 1000; ++i) limiter.settle(0, 0);
  EXPECT_DOUBLE_EQ(limiter.pace(), 0.95);
  for (int i = 0; i < 20; ++i) limiter.penalize(milliseconds(1), start);
  EXPECT_DOUBLE_EQ(limiter.pace(), 0.5);  // never below half the limit
}

TEST(RateLimiter, SlowLimitWaitsTheRightTime) {
  Clock::time_point start{};
  RateLimiter limiter(6, 0, start);  // one request every 10 s
  EXPECT_EQ(limiter.wait_time(1, start), Clock::duration::zero());
  limiter.acquire(1, start);
  auto wait = limiter.wait_time(1, start);
  EXPECT_NEAR(std::chrono::duration<double>(wait).count(), 10.0 / 0.95, 0.01);
  EXPECT_EQ(limiter.wait_time(1, start + wait), Clock::duration::zero());
}

TEST(RateLimiter, TokenLimitHoldsBackLargeRequestsAndSettleGivesBackTheEstimate) {
  Clock::time_point start{};
  RateLimiter limiter(0, 60000, start);  // 1000 tokens a second, paced at 950
  EXPECT_EQ(limiter.wait_time(800, start), Clock::duration::zero());
  limiter.acquire(800, start);
  EXPECT_NEAR(std::chrono::duration<double>(limiter.wait_time(800, start)).count(), 800 / 950.0, 0.001);
  limiter.settle(800, 100);  // the request used far less than reserved
  EXPECT_NEAR(std::chrono::duration<double>(limiter.wait_time(800, start)).count(), 100 / 950.0, 0.001);
  limiter.settle(800, 0);
  EXPECT_EQ(limiter.wait_time(800, start), Clock::duration::zero());
  // Larger than a second's worth: goes when nothing is owed, then holds the next back until it is paid.
  RateLimiter small(0, 600, start);  // 10 tokens a second
  EXPECT_EQ(small.wait_time(5000, start), Clock::duration::zero());
  small.acquire(5000, start);
  EXPECT_GT(small.wait_time(1, start + seconds(100)), Clock::duration::zero());
  EXPECT_EQ(small.wait_time(1, start + seconds(530)), Clock::duration::zero());
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
  // 600 a minute at 0.95 × 0.85 after the 429: one request each 0.124 s once the pause is over.
  Clock::time_point start{};
  RateLimiter limiter(600, 0, start);
  limiter.penalize(seconds(1), start);
  EXPECT_GE(limiter.wait_time(1, start), seconds(1) - milliseconds(1));
  EXPECT_GT(limiter.wait_time(1, start + milliseconds(1100)), Clock::duration::zero());
  EXPECT_EQ(limiter.wait_time(1, start + milliseconds(1130)), Clock::duration::zero());
}

TEST(RateLimiter, NoLimitsNeverWait) {
  Clock::time_point start{};
  RateLimiter limiter(0, 0, start);
  for (int i = 0; i < 1000; ++i) limiter.acquire(100000, start);
  EXPECT_EQ(limiter.wait_time(100000, start), Clock::duration::zero());
}

}  // namespace
}  // namespace medcode::llm
