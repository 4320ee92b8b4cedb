// One coder behind a queue. Requests from many HTTP threads put texts in; one worker takes what has
// gathered within a short window (or a full batch) and codes it as one batch, so a trained model decodes
// concurrent requests together and stays loaded once. With a window of 0 and a batch of 1 every text is
// coded alone, in arrival order: batching off.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "medcode/eval/evaluation.h"
#include "medcode/serve/metrics.h"

namespace medcode::serve {

struct BatchOptions {
  std::chrono::milliseconds window{5};  // how long the first text of a batch waits for company
  std::size_t max_batch = 16;           // most texts coded together
  int threads = 0;  // a coder that codes one text at a time (bm25, majority): texts of a batch in parallel
};

class BatchQueue {
 public:
  // `coder` and `metrics` must outlive the queue. The worker starts at once.
  BatchQueue(const eval::Coder& coder, std::string name, BatchOptions options, Metrics& metrics);
  ~BatchQueue();
  BatchQueue(const BatchQueue&) = delete;
  BatchQueue& operator=(const BatchQueue&) = delete;

  // Queues `texts` (each ranked to at least `k` codes) and returns one future per text. A coder's error
  // reaches every future of its batch. Error(usage) once the queue is stopping.
  std::vector<std::future<eval::Prediction>> submit(std::vector<std::string> texts, std::size_t k);
  // Codes what is queued, then stops the worker. Idempotent.
  void stop();

  const std::string& name() const { return m_name; }
  std::size_t batches() const;

 private:
  struct Job {
    std::string text;
    std::size_t k = 0;
    std::promise<eval::Prediction> promise;
    std::chrono::steady_clock::time_point queued;
  };
  void work();
  void run_batch(std::vector<Job>& jobs);

  const eval::Coder& m_coder;
  std::string m_name;
  BatchOptions m_options;
  Metrics& m_metrics;
  mutable std::mutex m_mutex;
  std::condition_variable m_wake;
  std::deque<Job> m_jobs;
  bool m_stopping = false;
  std::size_t m_batches = 0;
  std::thread m_worker;
};

}  // namespace medcode::serve
