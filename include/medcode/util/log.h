// Logging set-up: spdlog to stderr, optionally also to a rotating file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace medcode::util {

enum class Verbosity { quiet, normal, verbose };

struct LogOptions {
  Verbosity verbosity = Verbosity::normal;
  std::optional<std::filesystem::path> log_file;  // rotating, 10 MiB x 3, always at debug level
};

void init_logging(const LogOptions& options);

// The messages logged at error level since logging started, in order (for the record of a failed run).
std::vector<std::string> logged_errors();

}  // namespace medcode::util
