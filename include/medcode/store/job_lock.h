// One writer per job: a lock file beside the store for each job that spends money or writes a job's rows
// (a generation job, an llm: coder's scores, a subject's conversations). A second process on the same store
// and job is refused before it sends anything; other jobs of the same store go on side by side.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "medcode/store/database.h"
#include "medcode/util/file_lock.h"

namespace medcode::store {

// "<store>.<kind>-<first 16 hex digits of sha256(identity)>.lock": the same job always gets the same file.
std::filesystem::path job_lock_path(const std::filesystem::path& store, std::string_view kind,
                                    std::string_view identity);

class JobLock {
 public:
  // Error(policy) naming the holder's pid when another live process holds the job; a lock left by a process
  // that died is taken over with a warning. `label` names the job in messages ("generate descriptions ...").
  // A store in memory is private to this process and takes no lock.
  JobLock(const Database& db, std::string_view kind, std::string_view identity, std::string_view label);

  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
  std::optional<util::FileLock> m_lock;
};

}  // namespace medcode::store
