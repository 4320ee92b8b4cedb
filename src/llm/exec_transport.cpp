// The exec transport: one child process per request (no shell), fed the request body on stdin through a
// non-blocking pipe, with stdout and stderr collected by poll(2) on the engine's thread.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>

#include "medcode/llm/http_client.h"

extern char** environ;

namespace medcode::llm {

namespace {

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(Fd&& other) noexcept : m_fd(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return m_fd; }
  int release() { return std::exchange(m_fd, -1); }
  void reset(int fd = -1) {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = fd;
  }
  explicit operator bool() const { return m_fd >= 0; }

 private:
  int m_fd = -1;
};

struct Child {
  RequestId id = 0;
  pid_t pid = -1;
  Fd stdin_fd;
  Fd stdout_fd;
  Fd stderr_fd;
  std::string input;
  std::size_t written = 0;
  std::string out;
  std::string err;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point deadline;
  bool exited = false;
  int status = 0;
};

void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::string tail(const std::string& text, std::size_t n) {
  return text.size() > n ? text.substr(text.size() - n) : text;
}

class ExecTransport : public Transport {
 public:
  explicit ExecTransport(std::vector<std::string> command) : m_command(std::move(command)) {
    ignore_sigpipe();
  }

  ~ExecTransport() override {
    for (auto& [id, child] : m_children) {
      ::kill(child.pid, SIGKILL);
      ::waitpid(child.pid, nullptr, 0);
    }
  }

  RequestId submit(HttpRequest request) override {
    RequestId id = ++m_next_id;
    auto now = std::chrono::steady_clock::now();
    std::array<int, 2> in{-1, -1}, out{-1, -1}, err{-1, -1};
    if (m_command.empty() || ::pipe2(in.data(), O_CLOEXEC) != 0 || ::pipe2(out.data(), O_CLOEXEC) != 0 ||
        ::pipe2(err.data(), O_CLOEXEC) != 0) {
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
        if (fd >= 0) ::close(fd);
      }
      fail_at_start(id, now, m_command.empty() ? "no command configured" : "cannot create pipes");
      return id;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& arg : m_command) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    int spawned = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (spawned != 0) {
      ::close(in[1]);
      ::close(out[0]);
      ::close(err[0]);
      fail_at_start(id, now, "cannot start '" + m_command[0] + "': " + std::strerror(spawned));
      return id;
    }
    Child child;
    child.id = id;
    child.pid = pid;
    child.stdin_fd.reset(in[1]);
    child.stdout_fd.reset(out[0]);
    child.stderr_fd.reset(err[0]);
    for (int fd : {in[1], out[0], err[0]}) set_nonblocking(fd);
    child.input = std::move(request.body);
    child.started = now;
    child.deadline = now + request.timeout;
    m_children.emplace(id, std::move(child));
    return id;
  }

  std::vector<Completion> poll(std::chrono::milliseconds max_wait) override {
    std::vector<Completion> done = std::move(m_ready);
    m_ready.clear();
    if (!done.empty()) max_wait = std::chrono::milliseconds(0);
    wait_for_pipes(max_wait);
    auto now = std::chrono::steady_clock::now();
    for (auto it = m_children.begin(); it != m_children.end();) {
      Child& child = it->second;
      pump(child);
      if (!child.exited) {
        int status = 0;
        if (::waitpid(child.pid, &status, WNOHANG) == child.pid) {
          child.exited = true;
          child.status = status;
        }
      }
      if (!child.exited && now >= child.deadline) {
        ::kill(child.pid, SIGKILL);
        ::waitpid(child.pid, nullptr, 0);
        HttpResponse response;
        response.timed_out = true;
        response.transport_error = "'" + m_command[0] + "' did not finish in time and was killed";
        response.seconds = std::chrono::duration<double>(now - child.started).count();
        done.push_back({child.id, std::move(response)});
        it = m_children.erase(it);
        continue;
      }
      if (child.exited && !child.stdout_fd && !child.stderr_fd) {
        done.push_back({child.id, finish(child, now)});
        it = m_children.erase(it);
        continue;
      }
      ++it;
    }
    return done;
  }

  std::size_t in_flight() const override { return m_children.size() + m_ready.size(); }

 private:
  void fail_at_start(RequestId id, std::chrono::steady_clock::time_point, const std::string& error) {
    HttpResponse response;
    response.transport_error = error;
    m_ready.push_back({id, std::move(response)});
  }

  void wait_for_pipes(std::chrono::milliseconds max_wait) {
    std::vector<pollfd> fds;
    for (auto& [id, child] : m_children) {
      if (child.stdin_fd) fds.push_back({child.stdin_fd.get(), POLLOUT, 0});
      if (child.stdout_fd) fds.push_back({child.stdout_fd.get(), POLLIN, 0});
      if (child.stderr_fd) fds.push_back({child.stderr_fd.get(), POLLIN, 0});
    }
    // Children that exited without closing pipes are caught by waitpid; cap the wait so it is polled.
    int timeout = static_cast<int>(std::min<std::int64_t>(max_wait.count(), 50));
    ::poll(fds.data(), fds.size(), timeout);
  }

  // Moves what it can: input into the child, output out of it, without blocking.
  static void pump(Child& child) {
    while (child.stdin_fd && child.written < child.input.size()) {
      ssize_t n = ::write(child.stdin_fd.get(), child.input.data() + child.written,
                          child.input.size() - child.written);
      if (n > 0) {
        child.written += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        break;
      } else {
        child.stdin_fd.reset();  // EPIPE: the command does not read its input
      }
    }
    if (child.stdin_fd && child.written >= child.input.size()) child.stdin_fd.reset();
    drain(child.stdout_fd, child.out);
    drain(child.stderr_fd, child.err);
  }

  static void drain(Fd& fd, std::string& into) {
    std::array<char, 65536> buffer{};
    while (fd) {
      ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
      if (n > 0) {
        into.append(buffer.data(), static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
      } else {
        fd.reset();  // end of file
      }
    }
  }

  HttpResponse finish(Child& child, std::chrono::steady_clock::time_point now) const {
    HttpResponse response;
    response.seconds = std::chrono::duration<double>(now - child.started).count();
    if (WIFEXITED(child.status) && WEXITSTATUS(child.status) == 0) {
      response.status = 200;
      response.body = std::move(child.out);
    } else if (WIFEXITED(child.status)) {
      response.status = 500;
      response.body = std::move(child.out);
      response.transport_error = "'" + m_command[0] + "' exited with status " +
                                 std::to_string(WEXITSTATUS(child.status)) + ": " + tail(child.err, 500);
    } else {
      response.status = 500;
      response.transport_error = "'" + m_command[0] + "' was killed by signal " +
                                 std::to_string(WTERMSIG(child.status)) + ": " + tail(child.err, 500);
    }
    return response;
  }

  std::vector<std::string> m_command;
  std::map<RequestId, Child> m_children;
  std::vector<Completion> m_ready;
  RequestId m_next_id = 0;
};

}  // namespace

std::unique_ptr<Transport> make_exec_transport(std::vector<std::string> command) {
  return std::make_unique<ExecTransport>(std::move(command));
}

}  // namespace medcode::llm
