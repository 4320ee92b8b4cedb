// fork/exec of the medcode binary with pipes for stdout and stderr.
#include "support/medcode_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <thread>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace medcode::testing {

namespace fs = std::filesystem;

namespace {

void drain(int out_fd, int err_fd, std::string& out, std::string& err) {
  std::array<pollfd, 2> fds{{{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}}};
  int open_count = 2;
  std::array<char, 65536> buffer{};
  while (open_count > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      } else {
        (i == 0 ? out : err).append(buffer.data(), static_cast<std::size_t>(n));
      }
    }
  }
}

// In the child: working directory, environment, then exec of the binary; never returns.
[[noreturn]] void exec_medcode(const fs::path& binary, const std::vector<std::string>& args,
                               const fs::path& working_dir, const std::map<std::string, std::string>& env) {
  if (!working_dir.empty() && ::chdir(working_dir.c_str()) != 0) ::_exit(127);
  for (const auto& [name, value] : env) {
    if (value.empty()) {
      ::unsetenv(name.c_str());
    } else {
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  std::vector<std::string> argv_storage{binary.string()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  ::execv(binary.c_str(), argv.data());
  ::_exit(127);
}

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

BackgroundMedcode::BackgroundMedcode(const std::vector<std::string>& args, const fs::path& working_dir,
                                     const std::map<std::string, std::string>& env) {
  m_pid = ::fork();
  if (m_pid < 0) throw std::runtime_error("fork failed");
  if (m_pid == 0) {
    int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    exec_medcode(MEDCODE_BINARY, args, working_dir, env);
  }
}

BackgroundMedcode::BackgroundMedcode(const std::vector<std::string>& args, const fs::path& working_dir,
                                     const std::map<std::string, std::string>& env, const fs::path& out_file,
                                     const fs::path& err_file) {
  m_pid = ::fork();
  if (m_pid < 0) throw std::runtime_error("fork failed");
  if (m_pid == 0) {
    int null_fd = ::open("/dev/null", O_RDONLY);
    int out_fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err_fd = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    exec_medcode(MEDCODE_BINARY, args, working_dir, env);
  }
}

void BackgroundMedcode::signal(int number) {
  if (m_pid > 0) ::kill(m_pid, number);
}

BackgroundMedcode::~BackgroundMedcode() {
  if (m_pid > 0) kill_now();
}

void BackgroundMedcode::kill_now() {
  if (m_pid <= 0) return;
  ::kill(m_pid, SIGKILL);
  int status = 0;
  ::waitpid(m_pid, &status, 0);
  m_pid = -1;
}

int BackgroundMedcode::wait_at_most(double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_pid = -1;
      return exit_code_of(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill_now();
  return -1;
}

int BackgroundMedcode::wait() {
  int status = 0;
  ::waitpid(m_pid, &status, 0);
  m_pid = -1;
  return exit_code_of(status);
}

ProcessResult run_medcode(const std::vector<std::string>& args, const fs::path& working_dir,
                          const std::map<std::string, std::string>& env) {
  return run_medcode_at(MEDCODE_BINARY, args, working_dir, env);
}

ProcessResult run_medcode_at(const fs::path& binary, const std::vector<std::string>& args,
                             const fs::path& working_dir, const std::map<std::string, std::string>& env) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, STDIN_FILENO);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    exec_medcode(binary, args, working_dir, env);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ProcessResult result;
  drain(out_pipe[0], err_pipe[0], result.out, result.err);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = exit_code_of(status);
  return result;
}

TempDir::TempDir() {
  std::random_device random;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path candidate = fs::temp_directory_path() / ("medcode-test-" + std::to_string(random()));
    if (fs::create_directory(candidate)) {
      m_path = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(m_path, ignored);
}

fs::path shared_data(const std::string& relative) { return fs::path(MEDCODE_SHARED_DATA_DIR) / relative; }
fs::path fixture(const std::string& relative) { return fs::path(MEDCODE_FIXTURES_DIR) / relative; }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace medcode::testing
