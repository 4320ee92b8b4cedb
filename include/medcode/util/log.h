// Logging set-up: spdlog to stderr, optionally also to a rotating file.
#pragma once

#include <filesystem>
#include <optional>

namespace medcode::util {

enum class Verbosity { quiet, normal, verbose };

struct LogOptions {
  Verbosity verbosity = Verbosity::normal;
  std::optional<std::filesystem::path> log_file;  // rotating, 10 MiB x 3, always at debug level
};

void init_logging(const LogOptions& options);

}  // namespace medcode::util
