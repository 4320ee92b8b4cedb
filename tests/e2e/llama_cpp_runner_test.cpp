// Tests of the llama.cpp runner that checks GGUF exports: its failures must name what went wrong, or a broken
// export test would read as a broken model.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "support/llama_cpp.h"
#include "support/medcode_process.h"

namespace medcode {
namespace {

using testing::llama_cpp_unavailable_reason;
using testing::run_llama_cpp;
using testing::TempDir;

class LlamaCppRunner : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string reason = llama_cpp_unavailable_reason(); !reason.empty()) GTEST_SKIP() << reason;
  }

  // The message run_llama_cpp throws for `request`, or "" when it does not throw.
  static std::string error_for(const nlohmann::json& request) {
    try {
      run_llama_cpp(request);
    } catch (const std::runtime_error& error) {
      return error.what();
    }
    return "";
  }
};

TEST_F(LlamaCppRunner, ReportsAMissingModelFileByItsPath) {
  TempDir dir;
  std::string missing = (dir / "missing.gguf").string();
  std::string message = error_for({{"model", missing}, {"tokenize", {"text"}}});
  EXPECT_NE(message.find("exit 1"), std::string::npos) << message;
  EXPECT_NE(message.find(missing), std::string::npos) << message;
}

TEST_F(LlamaCppRunner, RejectsARequestWithoutAModel) {
  std::string message = error_for({{"tokenize", {"text"}}});
  EXPECT_NE(message.find("exit 2"), std::string::npos) << message;
  EXPECT_NE(message.find("\"model\""), std::string::npos) << message;
}

}  // namespace
}  // namespace medcode
