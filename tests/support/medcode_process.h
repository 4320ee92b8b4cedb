// Runs the medcode binary for end-to-end tests and captures its exit code, stdout and stderr.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace medcode::testing {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs MEDCODE_BINARY with `args` in `working_dir` (current directory when empty), with extra environment
// variables set (an empty value unsets the variable).
ProcessResult run_medcode(const std::vector<std::string>& args, const std::filesystem::path& working_dir = {},
                          const std::map<std::string, std::string>& env = {});

// The same with a copy of the binary at `binary` (to run it without the plugins beside the built one).
ProcessResult run_medcode_at(const std::filesystem::path& binary, const std::vector<std::string>& args,
                             const std::filesystem::path& working_dir = {},
                             const std::map<std::string, std::string>& env = {});

// The medcode binary running in the background (output discarded), for tests that kill it mid-way.
class BackgroundMedcode {
 public:
  BackgroundMedcode(const std::vector<std::string>& args, const std::filesystem::path& working_dir = {},
                    const std::map<std::string, std::string>& env = {});
  // The same with stdout and stderr written to files (a server's address and logs).
  BackgroundMedcode(const std::vector<std::string>& args, const std::filesystem::path& working_dir,
                    const std::map<std::string, std::string>& env, const std::filesystem::path& out_file,
                    const std::filesystem::path& err_file);
  ~BackgroundMedcode();  // kills it if still running
  BackgroundMedcode(const BackgroundMedcode&) = delete;
  BackgroundMedcode& operator=(const BackgroundMedcode&) = delete;
  void kill_now();  // SIGKILL, then reaps it
  void signal(int number);  // sends a signal; wait() reaps it
  bool running() const { return m_pid > 0; }
  int wait();       // exit code, or 128 + signal
  // The same, but gives up after `seconds` (SIGKILL, then -1): for a process that should have exited at once.
  int wait_at_most(double seconds);

 private:
  int m_pid = -1;
};

// A fresh directory under the system temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

 private:
  std::filesystem::path m_path;
};

std::filesystem::path shared_data(const std::string& relative);  // ../shared/data/<relative>
std::filesystem::path fixture(const std::string& relative);      // tests/fixtures/<relative>
std::string read_text(const std::filesystem::path& path);

}  // namespace medcode::testing
