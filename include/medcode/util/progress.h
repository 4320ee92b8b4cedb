// Progress reporting from modules to whoever renders it (the CLI); modules never print.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace medcode::util {

// stage: short label ("parse tabular"); done/total in the stage's own unit (total 0 when unknown).
using ProgressCallback = std::function<void(std::string_view stage, std::uint64_t done, std::uint64_t total)>;

inline void report(const ProgressCallback& callback, std::string_view stage, std::uint64_t done,
                   std::uint64_t total) {
  if (callback) callback(stage, done, total);
}

}  // namespace medcode::util
