// flock-based exclusive lock with the holder written into the lock file, shared within a process.
#include "medcode/util/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::util {

namespace {

// The locks this process holds, by absolute path: flock() is per open file, so a second open of the same file
// in this process would be refused by its own first hold.
// A child made by fork() inherits the map but not the hold, hence the holder's pid.
struct Hold {
  int fd = -1;
  int count = 0;
  pid_t pid = 0;
};

std::mutex& holds_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::map<std::string, Hold>& holds() {
  static std::map<std::string, Hold> map;
  return map;
}

std::string key_of(const std::filesystem::path& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

std::string read_all(int fd) {
  std::string text;
  char buffer[256];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  return std::string(trim(text));
}

// Whether `fd` is still the file at `path`: a holder that released the lock removes the file, so a lock taken
// on the open file of a removed path guards nothing.
bool still_linked(int fd, const std::string& path) {
  struct stat opened {};
  struct stat named {};
  if (::fstat(fd, &opened) != 0 || ::stat(path.c_str(), &named) != 0) return false;
  return opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

// Opens and locks the file at `path`; Error(policy) naming the holder when another process has it.
int lock_file(const std::string& path, std::string_view refusal) {
  for (;;) {
    // Never through a symbolic link, and never a file that is also another name (a hard link) or not a
    // plain file: the holder's note is written into it.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0 && errno == ELOOP)
      fail(ExitCode::policy, "{}: the lock file is a symbolic link; refusing to follow it (remove it)", path);
    if (fd < 0) fail(ExitCode::bad_input, "{}: cannot open the lock file: {}", path, std::strerror(errno));
    struct stat opened {};
    if (::fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode) || opened.st_nlink > 1) {
      ::close(fd);
      fail(ExitCode::policy, "{}: the lock file is not a plain file of its own (a device, a folder or a hard link); "
           "refusing to write into it (remove it)", path);
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      std::string holder = read_all(fd);
      ::close(fd);
      fail(ExitCode::policy, "{}: {} ({}); not starting a second one", path, refusal,
           holder.empty() ? "holder unknown" : holder);
    }
    if (still_linked(fd, path)) return fd;
    ::close(fd);  // released and removed between our open and our lock: take the new file
  }
}

}  // namespace

FileLock::FileLock(std::filesystem::path path, std::string_view refusal) : m_key(key_of(path)) {
  std::lock_guard guard(holds_mutex());
  Hold& hold = holds()[m_key];
  if (hold.count > 0 && hold.pid == ::getpid()) {
    ++hold.count;
    return;
  }
  hold = Hold{};
  try {
    hold.fd = lock_file(m_key, refusal);
  } catch (...) {
    holds().erase(m_key);
    throw;
  }
  hold.count = 1;
  hold.pid = ::getpid();
  // Held now: whatever the file still says is a holder that died without releasing it.
  std::string previous = read_all(hold.fd);
  if (!previous.empty()) m_stale_holder = previous;
  std::string holder = "pid " + std::to_string(::getpid()) + " since " + utc_now_iso8601() + "\n";
  if (::ftruncate(hold.fd, 0) != 0 || ::pwrite(hold.fd, holder.data(), holder.size(), 0) < 0) {
    // The lock itself is what matters; the note is only for messages.
  }
}

FileLock::~FileLock() {
  std::lock_guard guard(holds_mutex());
  auto it = holds().find(m_key);
  // A forked child shares its parent's open file: unlocking it there would free the parent's lock.
  if (it == holds().end() || it->second.pid != ::getpid() || --it->second.count > 0) return;
  // Removed while still locked, so that no other process can lock the file this one is about to drop.
  ::unlink(m_key.c_str());
  ::flock(it->second.fd, LOCK_UN);
  ::close(it->second.fd);
  holds().erase(it);
}

int FileLock::holds_in_this_process(const std::filesystem::path& path) {
  std::lock_guard guard(holds_mutex());
  auto it = holds().find(key_of(path));
  return it == holds().end() || it->second.pid != ::getpid() ? 0 : it->second.count;
}

}  // namespace medcode::util
