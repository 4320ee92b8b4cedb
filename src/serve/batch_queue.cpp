// The coder's queue: one worker, batches gathered by a window that starts at the oldest waiting text.
#include "medcode/serve/batch_queue.h"

#include <algorithm>

#include "medcode/util/error.h"
#include "medcode/util/parallel.h"

namespace medcode::serve {

BatchQueue::BatchQueue(const eval::Coder& coder, std::string name, BatchOptions options, Metrics& metrics)
    : m_coder(coder), m_name(std::move(name)), m_options(options), m_metrics(metrics) {
  m_options.max_batch = std::max<std::size_t>(m_options.max_batch, 1);
  m_worker = std::thread([this] { work(); });
}

BatchQueue::~BatchQueue() { stop(); }

std::vector<std::future<eval::Prediction>> BatchQueue::submit(std::vector<std::string> texts, std::size_t k) {
  std::vector<std::future<eval::Prediction>> futures;
  futures.reserve(texts.size());
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) fail(ExitCode::usage, "the server is stopping");
    auto now = std::chrono::steady_clock::now();
    for (auto& text : texts) {
      Job job;
      job.text = std::move(text);
      job.k = k;
      job.queued = now;
      futures.push_back(job.promise.get_future());
      m_jobs.push_back(std::move(job));
    }
    m_metrics.queue_depth(m_name, m_jobs.size());
  }
  m_wake.notify_one();
  return futures;
}

void BatchQueue::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_one();
  if (m_worker.joinable()) m_worker.join();
}

std::size_t BatchQueue::batches() const {
  std::lock_guard lock(m_mutex);
  return m_batches;
}

void BatchQueue::work() {
  while (true) {
    std::vector<Job> batch;
    {
      std::unique_lock lock(m_mutex);
      m_wake.wait(lock, [&] { return m_stopping || !m_jobs.empty(); });
      if (m_jobs.empty()) return;  // stopping, and nothing left to code
      // The window runs from the oldest text's arrival: a text never waits longer than the window for
      // others, however the requests are spread.
      auto deadline = m_jobs.front().queued + m_options.window;
      m_wake.wait_until(lock, deadline,
                        [&] { return m_stopping || m_jobs.size() >= m_options.max_batch; });
      std::size_t take = std::min(m_jobs.size(), m_options.max_batch);
      batch.reserve(take);
      for (std::size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(m_jobs.front()));
        m_jobs.pop_front();
      }
      ++m_batches;
      m_metrics.queue_depth(m_name, m_jobs.size());
    }
    run_batch(batch);
  }
}

void BatchQueue::run_batch(std::vector<Job>& jobs) {
  auto started = std::chrono::steady_clock::now();
  std::size_t k = 0;
  for (const auto& job : jobs) k = std::max(k, job.k);
  try {
    std::vector<eval::Prediction> predictions(jobs.size());
    if (const auto* deciding = dynamic_cast<const eval::DecidingCoder*>(&m_coder)) {
      // A model decodes the batch together; the index and LLM coders spread it over their own threads.
      std::vector<std::string> texts;
      texts.reserve(jobs.size());
      for (const auto& job : jobs) texts.push_back(job.text);
      predictions = deciding->predict_many(texts, k);
      if (predictions.size() != jobs.size())
        fail(ExitCode::internal, "coder {} answered {} of {} texts", m_name, predictions.size(), jobs.size());
    } else {
      util::parallel_for(jobs.size(), m_options.threads,
                         [&](std::size_t i) { predictions[i] = eval::predict(m_coder, jobs[i].text, k); });
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    m_metrics.batch(m_name, jobs.size(), seconds);
    for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].promise.set_value(std::move(predictions[i]));
  } catch (...) {
    auto error = std::current_exception();
    for (auto& job : jobs) job.promise.set_exception(error);
  }
}

}  // namespace medcode::serve
