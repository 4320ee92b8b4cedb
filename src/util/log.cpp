// Logging set-up: stderr for the person at the terminal, a rotating file for cron.
#include "medcode/util/log.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "medcode/util/error.h"

namespace medcode::util {

void init_logging(const LogOptions& options) {
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_pattern("%^%l%$: %v");
  switch (options.verbosity) {
    case Verbosity::quiet: console->set_level(spdlog::level::err); break;
    case Verbosity::normal: console->set_level(spdlog::level::info); break;
    case Verbosity::verbose: console->set_level(spdlog::level::debug); break;
  }
  std::vector<spdlog::sink_ptr> sinks{console};
  if (options.log_file) {
    try {
      auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(options.log_file->string(),
                                                                         10 * 1024 * 1024, 3);
      file->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [%P] %v");
      file->set_level(spdlog::level::debug);
      sinks.push_back(file);
    } catch (const spdlog::spdlog_ex& e) {
      fail(ExitCode::usage, "--log-file {}: {}", options.log_file->string(), e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("medcode", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace medcode::util
