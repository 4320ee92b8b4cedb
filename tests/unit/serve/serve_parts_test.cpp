// The server's parts without HTTP: the batching queue over a counting coder, supporting lines, the
// Prometheus exposition and the key comparison.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <numeric>
#include <thread>

#include "medcode/serve/batch_queue.h"
#include "medcode/serve/metrics.h"
#include "medcode/serve/server.h"
#include "medcode/serve/support_lines.h"
#include "medcode/util/error.h"

namespace medcode::serve {
namespace {

// A deciding coder that records the size of every batch and answers each text with a code named after it.
class CountingCoder : public eval::DecidingCoder {
 public:
  std::string name() const override { return "counting"; }
  std::vector<eval::RankedCode> code(std::string_view text, std::size_t) const override {
    return {{std::string(text), 1.0}};
  }
  eval::Prediction predict(std::string_view text, std::size_t k) const override {
    return {code(text, k), 1};
  }
  std::vector<eval::Prediction> predict_many(const std::vector<std::string>& texts, std::size_t k) const override {
    {
      std::lock_guard lock(mutex);
      sizes.push_back(texts.size());
    }
    if (fail_on_boom && std::find(texts.begin(), texts.end(), "boom") != texts.end())
      fail(ExitCode::bad_input, "boom is not a note");
    std::vector<eval::Prediction> out;
    for (const auto& text : texts) out.push_back(predict(text, k));
    return out;
  }
  mutable std::mutex mutex;
  mutable std::vector<std::size_t> sizes;
  bool fail_on_boom = false;
};

TEST(BatchQueue, GathersConcurrentTextsIntoOneBatchWithinTheWindow) {
  CountingCoder coder;
  Metrics metrics;
  BatchQueue queue(coder, "counting", {std::chrono::milliseconds(200), 16, 1}, metrics);
  std::vector<std::future<eval::Prediction>> answers;
  for (int i = 0; i < 6; ++i) {
    auto futures = queue.submit({"text" + std::to_string(i)}, 5);
    answers.push_back(std::move(futures.front()));
  }
  for (int i = 0; i < 6; ++i) EXPECT_EQ(answers[i].get().ranked.front().code, "text" + std::to_string(i));
  ASSERT_EQ(coder.sizes.size(), 1u);
  EXPECT_EQ(coder.sizes.front(), 6u);
  EXPECT_EQ(queue.batches(), 1u);
}

TEST(BatchQueue, NeverCodesMoreThanTheLargestBatch) {
  CountingCoder coder;
  Metrics metrics;
  BatchQueue queue(coder, "counting", {std::chrono::milliseconds(100), 4, 1}, metrics);
  auto futures = queue.submit({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, 1);
  for (auto& future : futures) future.get();
  for (std::size_t size : coder.sizes) EXPECT_LE(size, 4u);
  EXPECT_EQ(std::accumulate(coder.sizes.begin(), coder.sizes.end(), std::size_t{0}), 10u);
  EXPECT_NE(metrics.exposition().find("medcode_texts_coded_total{coder=\"counting\"} 10"), std::string::npos);
}

TEST(BatchQueue, BatchingOffCodesEachTextAlone) {
  CountingCoder coder;
  Metrics metrics;
  BatchQueue queue(coder, "counting", {std::chrono::milliseconds(0), 1, 1}, metrics);
  auto futures = queue.submit({"a", "b", "c"}, 1);
  for (auto& future : futures) future.get();
  EXPECT_EQ(coder.sizes, (std::vector<std::size_t>{1, 1, 1}));
}

TEST(BatchQueue, ACodersErrorReachesEveryTextOfItsBatchAndTheQueueGoesOn) {
  CountingCoder coder;
  coder.fail_on_boom = true;
  Metrics metrics;
  BatchQueue queue(coder, "counting", {std::chrono::milliseconds(100), 8, 1}, metrics);
  auto futures = queue.submit({"fine", "boom"}, 1);
  for (auto& future : futures) {
    try {
      future.get();
      ADD_FAILURE() << "no error";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ExitCode::bad_input);
    }
  }
  EXPECT_EQ(queue.submit({"again"}, 1).front().get().ranked.front().code, "again");
}

TEST(BatchQueue, StopCodesWhatIsQueuedThenRefusesMore) {
  CountingCoder coder;
  Metrics metrics;
  BatchQueue queue(coder, "counting", {std::chrono::milliseconds(1000), 64, 1}, metrics);
  auto futures = queue.submit({"a", "b"}, 1);
  queue.stop();  // long before the window ends
  for (auto& future : futures) EXPECT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_THROW(queue.submit({"late"}, 1), Error);
}

// A plain coder (not deciding) is called from several threads at once when the batch allows it.
class SlowCoder : public eval::Coder {
 public:
  std::string name() const override { return "slow"; }
  std::vector<eval::RankedCode> code(std::string_view text, std::size_t) const override {
    int now = ++in_flight;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    --in_flight;
    return {{std::string(text), 1.0}};
  }
  mutable std::atomic<int> in_flight{0};
  mutable std::atomic<int> most{0};
};

TEST(BatchQueue, APlainCoderCodesABatchOnSeveralThreads) {
  SlowCoder coder;
  Metrics metrics;
  BatchQueue queue(coder, "slow", {std::chrono::milliseconds(100), 8, 4}, metrics);
  auto futures = queue.submit({"a", "b", "c", "d"}, 1);
  for (auto& future : futures) EXPECT_EQ(future.get().n_predicted, 1u);
  EXPECT_GT(coder.most.load(), 1);
}

TEST(SupportLines, RanksLinesBySharedDescriptionWordsAndCodersEvidence) {
  std::string text = "Chief complaint: headache\n\nHistory of essential hypertension.\nBlood pressure high today\n";
  auto lines = split_lines(text);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1].number, 3);  // the blank line is counted
  eval::RankedCode code{"I10", 1.0};
  auto support = support_lines(text, lines, code, "Essential (primary) hypertension");
  ASSERT_EQ(support.size(), 1u);  // lines without a shared word are never support
  EXPECT_EQ(support[0].text, "History of essential hypertension.");
  EXPECT_EQ(support[0].line.number, 3);
  EXPECT_EQ(support[0].terms, (std::vector<std::string>{"essential", "hypertension"}));

  // The coder's own evidence outweighs shared words.
  std::size_t at = text.find("Blood pressure");
  code.evidence.push_back({at, at + 19, "Blood pressure high"});
  support = support_lines(text, lines, code, "Essential (primary) hypertension");
  ASSERT_EQ(support.size(), 2u);
  EXPECT_EQ(support[0].text, "Blood pressure high today");
}

TEST(SupportLines, PagesAreNumberedApartAndOffsetsFollowTheJoinedText) {
  std::vector<std::string> pages = {"Page one line\nsecond", "", "Third page: gout"};
  auto lines = split_page_lines(pages);
  std::string joined = pages[0] + "\n\n" + pages[1] + "\n\n" + pages[2];
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(*lines[2].page, 3);
  EXPECT_EQ(lines[2].number, 1);
  EXPECT_EQ(joined.substr(lines[2].begin, lines[2].end - lines[2].begin), "Third page: gout");
  auto support = support_lines(joined, lines, {"M10.9", 1.0}, "Gout, unspecified");
  ASSERT_EQ(support.size(), 1u);
  EXPECT_EQ(*support[0].line.page, 3);
}

TEST(Metrics, WritesPrometheusTextWithCumulativeBuckets) {
  Metrics metrics;
  metrics.request("POST", "/v1/predict", 200, 0.003);
  metrics.request("POST", "/v1/predict", 200, 0.2);
  metrics.request("POST", "/v1/predict", 400, 0.001);
  metrics.request_without_duration("POST", "/v1/predict", 413);
  metrics.tokens("model:m", 30, 4);
  metrics.pdf_pages(20);
  std::string text = metrics.exposition();
  EXPECT_NE(text.find("# TYPE medcode_http_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("medcode_http_requests_total{method=\"POST\",route=\"/v1/predict\",status=\"200\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("medcode_http_request_errors_total{route=\"/v1/predict\"} 2"), std::string::npos);
  EXPECT_NE(text.find("medcode_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"0.001\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("medcode_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"0.005\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("medcode_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"+Inf\"} 3"),
            std::string::npos);
  EXPECT_NE(text.find("medcode_http_request_duration_seconds_count{route=\"/v1/predict\"} 3"), std::string::npos);
  EXPECT_NE(text.find("medcode_prompt_tokens_total{coder=\"model:m\"} 30"), std::string::npos);
  EXPECT_NE(text.find("medcode_generated_tokens_total{coder=\"model:m\"} 4"), std::string::npos);
  EXPECT_NE(text.find("medcode_pdf_pages_total 20"), std::string::npos);
  EXPECT_EQ(metrics.requests_total(), 4u);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(ApiKey, ComparesWholeKeysOnly) {
  EXPECT_TRUE(constant_time_equal("s3cret", "s3cret"));
  EXPECT_FALSE(constant_time_equal("s3cret", "s3cre"));
  EXPECT_FALSE(constant_time_equal("s3cret", "s3cretx"));
  EXPECT_FALSE(constant_time_equal("s3cret", "S3cret"));
  EXPECT_FALSE(constant_time_equal("", "s3cret"));
}

}  // namespace
}  // namespace medcode::serve
