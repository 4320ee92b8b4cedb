// What the harnesses share: the fuzz input as text, the one way a reader may reject it (Error(bad_input)
// whose message names the file), and checks of what the readers promise about what they return. Anything
// else (another exception, a failed check, a sanitizer report, a hang) aborts, and libFuzzer keeps the input.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "medcode/util/error.h"

namespace medcode::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void broken(std::string_view what) {
  std::fprintf(stderr, "medcode fuzz: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

// A promise of the reader's header, checked on what it returned; the message says what broke it.
template <typename... Args>
void check(bool kept, fmt::format_string<Args...> promise, Args&&... args) {
  if (!kept) broken(fmt::format(promise, std::forward<Args>(args)...));
}

// Runs `read` (the reader on the input), accepting a rejection as the headers describe it: Error(bad_input)
// whose message starts with the name of the input. Other exceptions are left to end the run. False when the
// input was rejected.
template <typename Read>
bool read_or_reject(std::string_view source, Read&& read) {
  try {
    read();
    return true;
  } catch (const Error& error) {
    std::string_view message = error.what();
    if (error.code() != ExitCode::bad_input) {
      std::fprintf(stderr, "medcode fuzz: rejected with %s, not bad_input: %s\n",
                   exit_code_name(error.code()), error.what());
      std::abort();
    }
    if (message.substr(0, source.size()) != source) {
      std::fprintf(stderr, "medcode fuzz: the message does not name %.*s: %s\n",
                   static_cast<int>(source.size()), source.data(), error.what());
      std::abort();
    }
    return false;
  }
}

}  // namespace medcode::fuzz
