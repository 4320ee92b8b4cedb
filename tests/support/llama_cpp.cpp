// Finds node, node-llama-cpp and llama_check.mjs, and runs the script with the request in a temporary file.
#include "support/llama_cpp.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "support/medcode_process.h"

namespace medcode::testing {

namespace fs = std::filesystem;

namespace {

fs::path repo_root() { return (fs::path(MEDCODE_FIXTURES_DIR) / "../..").lexically_normal(); }

fs::path check_script() { return repo_root() / "scripts/llama-cpp/llama_check.mjs"; }

// Where scripts/install-npm-tools.sh puts node-llama-cpp; the script resolves it the same way.
fs::path llama_cpp_install_dir() {
  const char* configured = std::getenv("MEDCODE_LLAMA_CPP_DIR");
  return configured != nullptr && *configured != '\0' ? fs::path(configured)
                                                      : repo_root() / ".tools/llama-cpp";
}

std::optional<fs::path> find_on_path(std::string_view program) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "";
  while (!dirs.empty()) {
    std::size_t end = dirs.find(':');
    fs::path candidate = fs::path(dirs.substr(0, end)) / program;
    if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate;
    dirs = end == std::string_view::npos ? std::string_view{} : dirs.substr(end + 1);
  }
  return std::nullopt;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

std::string llama_cpp_unavailable_reason() {
#if !defined(__linux__) || !defined(__x86_64__)
  return "llama.cpp is installed only as node-llama-cpp's prebuilt Linux x64 build";
#endif
  if (!find_on_path("node")) return "node is not installed";
  if (!fs::exists(check_script())) return check_script().string() + " is missing";
  fs::path modules = llama_cpp_install_dir() / "node_modules";
  // Both packages: the prebuilt llama.cpp is a separate one, which an interrupted install can lack.
  for (const char* file :
       {"node-llama-cpp/package.json", "@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node"}) {
    if (!fs::exists(modules / file)) {
      return (modules / file).string() + " is missing: scripts/install-npm-tools.sh installs it";
    }
  }
  return "";
}

nlohmann::json run_llama_cpp(const nlohmann::json& request) {
  std::optional<fs::path> node = find_on_path("node");
  if (!node) throw std::runtime_error("llama_check.mjs cannot run: node is not installed");
  TempDir dir;
  fs::path request_file = dir / "request.json";
  std::ofstream(request_file) << request.dump();
  // run_medcode_at execs any program; here node, with stdout and stderr captured apart.
  ProcessResult result = run_medcode_at(*node, {check_script().string(), request_file.string()});
  if (result.exit_code != 0) {
    throw std::runtime_error("llama_check.mjs failed (exit " + std::to_string(result.exit_code) +
                             "): " + trimmed(result.err));
  }
  try {
    return nlohmann::json::parse(result.out);
  } catch (const nlohmann::json::parse_error& error) {
    throw std::runtime_error("llama_check.mjs wrote no JSON (" + std::string(error.what()) +
                             "); stderr: " + trimmed(result.err));
  }
}

}  // namespace medcode::testing
