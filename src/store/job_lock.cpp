// Job lock files beside the store, named by a hash of the job's identity.
#include "medcode/store/job_lock.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "medcode/util/hash.h"

namespace medcode::store {

std::filesystem::path job_lock_path(const std::filesystem::path& store, std::string_view kind,
                                    std::string_view identity) {
  std::string digest = util::sha256_hex(std::string(identity)).substr(0, 16);
  return store.string() + fmt::format(".{}-{}.lock", kind, digest);
}

JobLock::JobLock(const Database& db, std::string_view kind, std::string_view identity, std::string_view label)
    : m_path(job_lock_path(db.path(), kind, identity)) {
  if (db.path() == ":memory:") return;
  m_lock.emplace(m_path, fmt::format("another medcode process holds the job {}", label));
  if (m_lock->stale_holder()) {
    spdlog::warn("took over the lock of the job {} left by a process that did not finish ({})", label,
                 *m_lock->stale_holder());
  }
}

}  // namespace medcode::store
