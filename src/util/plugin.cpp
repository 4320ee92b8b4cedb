// Plugin search and loading: the places a plugin may be, tried in one order, each failure kept for the error.
#include "medcode/util/plugin.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <system_error>

namespace medcode::util {

namespace fs = std::filesystem;

namespace {

std::optional<fs::path> executable_dir() {
  std::error_code error;
  fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (error) return std::nullopt;
  return exe.parent_path();
}

}  // namespace

std::vector<fs::path> plugin_candidates(std::string_view file) {
  std::vector<fs::path> candidates;
  // The environment first: it is how a user picks another build of a plugin (a CUDA one) over the one
  // installed beside the binary.
  if (const char* dir = std::getenv(k_plugin_dir_env); dir && *dir)
    candidates.push_back(fs::path(dir) / file);
  if (std::optional<fs::path> dir = executable_dir()) {
    candidates.push_back(*dir / file);
    candidates.push_back((*dir / ".." / "lib" / "medcode" / file).lexically_normal());
  }
#ifdef MEDCODE_INSTALL_PLUGIN_DIR
  fs::path installed = fs::path(MEDCODE_INSTALL_PLUGIN_DIR) / file;
  if (std::find(candidates.begin(), candidates.end(), installed) == candidates.end())
    candidates.push_back(installed);
#endif
  return candidates;
}

std::optional<OpenedPlugin> open_plugin(const std::vector<fs::path>& candidates, int dlopen_flags,
                                        std::vector<std::string>& tried) {
  for (const fs::path& candidate : candidates) {
    std::error_code error;
    if (!fs::is_regular_file(candidate, error)) {
      tried.push_back(candidate.string() + " (missing)");
      continue;
    }
    void* handle = dlopen(candidate.c_str(), dlopen_flags);
    if (!handle) {
      const char* reason = dlerror();
      tried.push_back(fmt::format("{} ({})", candidate.string(), reason ? reason : "cannot be loaded"));
      continue;
    }
    return OpenedPlugin{handle, candidate};
  }
  return std::nullopt;
}

void* plugin_symbol(const OpenedPlugin& plugin, const char* name) { return dlsym(plugin.handle, name); }

}  // namespace medcode::util
