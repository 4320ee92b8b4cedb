// An exclusive lock on a file (flock), held for the life of the object. The kernel drops it when the holder
// dies, so a lock left by a killed process is free again; the file keeps the holder's pid and start time so a
// refused caller can say who holds it and a taker can say whose stale lock it took over.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace medcode::util {

class FileLock {
 public:
  // Error(policy) naming the holder when another live process holds the lock.
  explicit FileLock(std::filesystem::path path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // What the file said when the lock was taken: "pid 123 since 2026-11-24T10:00:00Z" of a holder that died
  // without releasing it; std::nullopt when the file was new or released cleanly.
  const std::optional<std::string>& stale_holder() const { return m_stale_holder; }

 private:
  std::filesystem::path m_path;
  int m_fd = -1;
  std::optional<std::string> m_stale_holder;
};

}  // namespace medcode::util
