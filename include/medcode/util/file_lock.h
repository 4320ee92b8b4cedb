// An exclusive lock on a file (flock), held for the life of the object. The kernel drops it when the holder
// dies, so a lock left by a killed process is free again; the file keeps the holder's pid and start time so a
// refused caller can say who holds it and a taker can say whose stale lock it took over. Within one process
// the lock is re-entrant: a second FileLock on the same path shares the first one's hold.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace medcode::util {

class FileLock {
 public:
  // Error(policy) "<path>: <refusal> (pid N since T); not starting a second one" when another live process
  // holds the lock.
  explicit FileLock(std::filesystem::path path,
                    std::string_view refusal = "another medcode run holds this store");
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // What the file said when the lock was taken: "pid 123 since 2026-11-24T10:00:00Z" of a holder that died
  // without releasing it; std::nullopt when the file was new or released cleanly, or when this process
  // already held the lock.
  const std::optional<std::string>& stale_holder() const { return m_stale_holder; }

  // How many FileLocks of this process share the hold on `path` (0: not held here).
  static int holds_in_this_process(const std::filesystem::path& path);

 private:
  std::string m_key;  // the absolute path, the key of the process's hold
  std::optional<std::string> m_stale_holder;
};

}  // namespace medcode::util
