// The one exception type that ends a command, carrying the exit code and the message the user reads.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace medcode {

// Process exit codes shared by every subcommand (see docs/exit-codes.md).
enum class ExitCode : int {
  ok = 0,
  internal = 1,
  usage = 2,
  bad_input = 3,
  network = 4,
  integrity = 5,
  policy = 6,
  storage = 7,  // the store or an output cannot be written or read: read-only, disk full, file-size limit, I/O
};

const char* exit_code_name(ExitCode code);

// The exit code of an operating-system error: storage for a file system that refuses (read-only, full,
// too big, I/O, permission), internal otherwise.
ExitCode exit_code_of_errno(int error);

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, std::string message) : std::runtime_error(std::move(message)), m_code(code) {}
  ExitCode code() const { return m_code; }

 private:
  ExitCode m_code;
};

// Shorthands: throw an Error of a category with a fmt-style message.
template <typename... Args>
[[noreturn]] void fail(ExitCode code, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace medcode
