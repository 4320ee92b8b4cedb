// Logging set-up: stderr for the person at the terminal, a rotating file for cron.
#include "medcode/util/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <string>
#include <vector>

#include "medcode/util/error.h"

namespace medcode::util {

namespace {

std::mutex& errors_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::vector<std::string>& errors() {
  static std::vector<std::string> list;
  return list;
}

// Keeps the error-level messages for the run's record.
class ErrorRecorder : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    if (message.level < spdlog::level::err) return;
    std::lock_guard lock(errors_mutex());
    errors().emplace_back(message.payload.data(), message.payload.size());
  }
  void flush_() override {}
};

}  // namespace

std::vector<std::string> logged_errors() {
  std::lock_guard lock(errors_mutex());
  return errors();
}

void init_logging(const LogOptions& options) {
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_pattern("%^%l%$: %v");
  switch (options.verbosity) {
    case Verbosity::quiet: console->set_level(spdlog::level::err); break;
    case Verbosity::normal: console->set_level(spdlog::level::info); break;
    case Verbosity::verbose: console->set_level(spdlog::level::debug); break;
  }
  std::vector<spdlog::sink_ptr> sinks{console, std::make_shared<ErrorRecorder>()};
  // Set before the log file is opened, so that an error opening it goes to stderr too.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("medcode", sinks.begin(), sinks.end()));
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
