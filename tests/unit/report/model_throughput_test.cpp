// Tests of the per-model throughput figures: 60-s windows of time in flight, items spread over each attempt's
// seconds, concurrent attempts counted once, and the best batch size among those sent often enough.
#include <gtest/gtest.h>

#include <string>

#include "report_data.h"

namespace medcode::report {
namespace {

constexpr double k_ten_o_clock = 1767607200;  // 2026-01-05T10:00:00Z

// An attempt of `model` from `start` to `end` seconds after 10:00:00.
AttemptSpan attempt(const std::string& model, double start, double end, std::int64_t n_items, bool answered,
                    std::optional<double> latency_ms = std::nullopt) {
  return {model, k_ten_o_clock + start, k_ten_o_clock + end, n_items, answered, latency_ms};
}

TEST(ModelThroughput, RatesAreItemsOverSecondsInFlightPerMinuteWindowAndIdleTimeCountsNowhere) {
  // 10:00 busy all minute with 30 items; 10:01 busy 30 s with 30 items; 10:05 busy, nothing answered.
  std::vector<ModelThroughput> models =
      model_throughput({attempt("fast", 0, 59, 30, true), attempt("fast", 60, 89, 30, true),
                        attempt("fast", 300, 359, 6, false)});
  ASSERT_EQ(models.size(), 1U);
  const ModelThroughput& fast = models[0];
  EXPECT_EQ(fast.items, 60);
  EXPECT_DOUBLE_EQ(fast.busy_seconds, 150);
  ASSERT_EQ(fast.windows.size(), 3U);
  EXPECT_DOUBLE_EQ(fast.windows[0].time, k_ten_o_clock);
  EXPECT_DOUBLE_EQ(fast.windows[0].value, 0.5);
  EXPECT_DOUBLE_EQ(fast.windows[1].time, k_ten_o_clock + 60);
  EXPECT_DOUBLE_EQ(fast.windows[1].value, 1.0);
  EXPECT_DOUBLE_EQ(fast.windows[2].time, k_ten_o_clock + 300);
  EXPECT_DOUBLE_EQ(fast.windows[2].value, 0);
  EXPECT_DOUBLE_EQ(fast.average_items_per_second.value(), 0.4);  // 60 items in 150 s, not in 6 minutes
  EXPECT_DOUBLE_EQ(fast.peak_items_per_second.value(), 1.0);
  EXPECT_DOUBLE_EQ(fast.minimum_items_per_second.value(), 0);
}

TEST(ModelThroughput, AnAttemptAcrossAWindowEdgeSpreadsItsItemsOverBoth) {
  // 10:00:30 to 10:01:29: 30 s in each window, 60 items, so 1 item/s in both rather than 2 in the second.
  std::vector<ModelThroughput> models = model_throughput({attempt("m", 30, 89, 60, true)});
  ASSERT_EQ(models[0].windows.size(), 2U);
  EXPECT_DOUBLE_EQ(models[0].windows[0].value, 1.0);
  EXPECT_DOUBLE_EQ(models[0].windows[1].value, 1.0);
  EXPECT_DOUBLE_EQ(models[0].peak_items_per_second.value(), 1.0);
}

TEST(ModelThroughput, ConcurrentAttemptsShareTheirSecondsInFlight) {
  // Two requests in flight together for 30 s: 20 items in 30 s of the model's time, not in 60.
  std::vector<ModelThroughput> models =
      model_throughput({attempt("m", 0, 29, 10, true), attempt("m", 0, 29, 10, true)});
  EXPECT_DOUBLE_EQ(models[0].busy_seconds, 30);
  EXPECT_DOUBLE_EQ(models[0].average_items_per_second.value(), 20.0 / 30);
}

TEST(ModelThroughput, AnAttemptWithinOneSecondIsInFlightForThatSecond) {
  std::vector<ModelThroughput> models = model_throughput({attempt("m", 5, 5, 3, true)});
  EXPECT_DOUBLE_EQ(models[0].busy_seconds, 1);
  EXPECT_DOUBLE_EQ(models[0].peak_items_per_second.value(), 3);
}

TEST(ModelThroughput, BestBatchSizeDeliversMostItemsPerSecondOfLatencyAmongSizesSentThreeTimes) {
  std::vector<AttemptSpan> attempts;
  // Size 4: 12 items in 6 s = 2/s. Size 8: one of three failed, 16 items in 6 s = 2.67/s. Size 16: 16/s, but
  // sent only twice.
  for (int i = 0; i < 3; ++i) attempts.push_back(attempt("m", 10 * i, 10 * i + 1, 4, true, 2000));
  for (int i = 0; i < 3; ++i) attempts.push_back(attempt("m", 100 + 10 * i, 101 + 10 * i, 8, i != 2, 2000));
  for (int i = 0; i < 2; ++i) attempts.push_back(attempt("m", 200 + 10 * i, 201 + 10 * i, 16, true, 1000));
  ModelThroughput model = model_throughput(attempts).at(0);
  ASSERT_EQ(model.batch_sizes.size(), 3U);
  EXPECT_EQ(model.batch_sizes[0].batch_size, 4);
  EXPECT_DOUBLE_EQ(model.batch_sizes[0].items_per_second, 2);
  EXPECT_EQ(model.batch_sizes[2].attempts, 2);
  EXPECT_DOUBLE_EQ(model.batch_sizes[2].items_per_second, 16);
  ASSERT_TRUE(model.best_batch.has_value());
  EXPECT_EQ(model.best_batch->batch_size, 8);
  EXPECT_EQ(model.best_batch->attempts, 3);
  EXPECT_DOUBLE_EQ(model.best_batch->items_per_second, 16.0 / 6);
}

TEST(ModelThroughput, BestBatchSizeTieGoesToTheSmallerAndNeedsEnoughAttempts) {
  std::vector<AttemptSpan> attempts;
  // Without a latency an attempt's seconds in flight stand in: 4 items in 2 s and 8 items in 4 s, both 2/s.
  for (int i = 0; i < 3; ++i) attempts.push_back(attempt("m", 10 * i, 10 * i + 1, 4, true));
  for (int i = 0; i < 3; ++i) attempts.push_back(attempt("m", 100 + 10 * i, 103 + 10 * i, 8, true));
  EXPECT_EQ(model_throughput(attempts).at(0).best_batch->batch_size, 4);

  EXPECT_FALSE(model_throughput({attempt("m", 0, 1, 4, true), attempt("m", 5, 6, 4, true)})
                   .at(0)
                   .best_batch.has_value());
}

TEST(ModelThroughput, EachModelHasItsOwnFiguresByName) {
  std::vector<ModelThroughput> models =
      model_throughput({attempt("b", 0, 9, 10, true), attempt("a", 0, 19, 10, true)});
  ASSERT_EQ(models.size(), 2U);
  EXPECT_EQ(models[0].model, "a");
  EXPECT_DOUBLE_EQ(models[0].average_items_per_second.value(), 0.5);
  EXPECT_EQ(models[1].model, "b");
  EXPECT_DOUBLE_EQ(models[1].average_items_per_second.value(), 1.0);
  EXPECT_TRUE(model_throughput({}).empty());
}

}  // namespace
}  // namespace medcode::report
