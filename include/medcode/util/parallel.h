// Work spread over threads: one index at a time from a shared counter, so uneven items balance themselves.
#pragma once

#include <cstddef>
#include <functional>

namespace medcode::util {

// Calls `work(i)` for every i below `n` on up to `threads` threads (0: one per core the hardware reports;
// never more threads than items); with one thread, in order on the caller's thread. The first exception a
// call throws stops the other threads from taking more items and is rethrown once every thread has stopped.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& work);

}  // namespace medcode::util
