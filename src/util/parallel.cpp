// Work spread over threads from a shared counter (util/parallel.h).
#include "medcode/util/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace medcode::util {

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& work) {
  std::size_t n_threads =
      threads > 0 ? static_cast<std::size_t>(threads) : std::max(1u, std::thread::hardware_concurrency());
  n_threads = std::min(n_threads, n);
  if (n_threads <= 1) {
    for (std::size_t i = 0; i < n; ++i) work(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < n_threads; ++t) {
    workers.emplace_back([&] {
      try {
        for (std::size_t i = next++; i < n; i = next++) work(i);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = n;
      }
    });
  }
  for (auto& worker : workers) worker.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace medcode::util
