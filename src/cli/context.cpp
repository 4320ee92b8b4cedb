// Shared CLI state: lazy store, run recording and a terminal progress line.
#include "context.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "option_groups.h"

namespace medcode::cli {

store::Database& Context::store() {
  if (!m_store) m_store.emplace(store::Database::open(m_options.db));
  return *m_store;
}

store::RunRecorder& Context::start_run(const std::string& command) {
  m_run = std::make_unique<store::RunRecorder>(store(), command, m_argv);
  return *m_run;
}

llm::ModelRegistry Context::model_registry() const {
  std::optional<std::filesystem::path> config;
  if (!m_options.config.empty()) config = m_options.config;
  llm::ModelRegistry registry = llm::ModelRegistry::load(config);
  registry.apply(engine_overrides());
  return registry;
}

std::filesystem::path Context::download_cache_dir(const std::string& override) const {
  if (!override.empty()) return std::filesystem::absolute(override);
  return std::filesystem::absolute(m_options.db).parent_path() / "medcode-files";
}

util::ProgressCallback Context::progress() {
  if (m_options.quiet || !::isatty(STDERR_FILENO)) return {};
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [last](std::string_view stage, std::uint64_t done, std::uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    bool final = total > 0 && done >= total;
    if (!final && now - *last < std::chrono::milliseconds(100)) return;
    *last = now;
    if (total > 0) {
      std::fprintf(stderr, "\r\033[K%.*s %llu/%llu (%.0f%%)", static_cast<int>(stage.size()), stage.data(),
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                   100.0 * static_cast<double>(done) / static_cast<double>(total));
    } else {
      std::fprintf(stderr, "\r\033[K%.*s %llu", static_cast<int>(stage.size()), stage.data(),
                   static_cast<unsigned long long>(done));
    }
    if (final) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

}  // namespace medcode::cli
