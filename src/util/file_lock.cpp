// flock-based exclusive lock with the holder written into the lock file.
#include "medcode/util/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::util {

namespace {

std::string read_all(int fd) {
  std::string text;
  char buffer[256];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  return std::string(trim(text));
}

}  // namespace

FileLock::FileLock(std::filesystem::path path) : m_path(std::move(path)) {
  m_fd = ::open(m_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (m_fd < 0)
    fail(ExitCode::bad_input, "{}: cannot open the lock file: {}", m_path.string(), std::strerror(errno));
  if (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder = read_all(m_fd);
    ::close(m_fd);
    m_fd = -1;
    fail(ExitCode::policy, "{}: another medcode run holds this store ({}); not starting a second one",
         m_path.string(), holder.empty() ? "holder unknown" : holder);
  }
  // Held now: whatever the file still says is a holder that died without releasing it.
  std::string previous = read_all(m_fd);
  if (!previous.empty()) m_stale_holder = previous;
  std::string holder = "pid " + std::to_string(::getpid()) + " since " + utc_now_iso8601() + "\n";
  if (::ftruncate(m_fd, 0) != 0 || ::pwrite(m_fd, holder.data(), holder.size(), 0) < 0) {
    // The lock itself is what matters; the note is only for messages.
  }
}

FileLock::~FileLock() {
  if (m_fd < 0) return;
  if (::ftruncate(m_fd, 0) != 0) {
    // A leftover note only makes the next run report a stale holder.
  }
  ::flock(m_fd, LOCK_UN);
  ::close(m_fd);
}

}  // namespace medcode::util
