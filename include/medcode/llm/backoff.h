// Retry delays: exponential backoff with full jitter, a floor from Retry-After, and a cap.
#pragma once

#include <chrono>
#include <optional>
#include <random>

namespace medcode::llm {

struct BackoffPolicy {
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds cap{60000};
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {}, std::uint64_t seed = std::random_device{}());
  // The delay before attempt number `attempt` (1 = the first retry): uniform in [0, min(cap, base *
  // 2^(a-1))], but never less than `retry_after` when the server gave one (then plus up to 10% jitter).
  std::chrono::milliseconds delay(int attempt, std::optional<double> retry_after_seconds = std::nullopt);

 private:
  BackoffPolicy m_policy;
  std::mt19937_64 m_random;
};

}  // namespace medcode::llm
