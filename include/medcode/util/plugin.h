// Finding and opening medcode's plugins (shared libraries opened with dlopen): one search order for all of
// them, so a user moves or swaps a plugin the same way whichever it is.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::util {

// The environment variable naming a folder searched first for every plugin.
inline constexpr const char* k_plugin_dir_env = "MEDCODE_PLUGIN_DIR";

// Where a plugin file may be, in the order searched: the folder in MEDCODE_PLUGIN_DIR, the folder of the
// running executable, the install layout beside it (../lib/medcode), then the install prefix's library
// folder.
std::vector<std::filesystem::path> plugin_candidates(std::string_view file);

// A plugin opened for the life of the process (never closed: objects and threads it made may outlive any
// owner we could name, and LibTorch does not support being unloaded).
struct OpenedPlugin {
  void* handle = nullptr;
  std::filesystem::path path;
};

// Opens the first of `candidates` that exists and loads with `dlopen_flags`; nullopt when none does, with one
// line per candidate tried ("path (missing)" or "path (dlerror text)") in `tried`.
std::optional<OpenedPlugin> open_plugin(const std::vector<std::filesystem::path>& candidates,
                                        int dlopen_flags, std::vector<std::string>& tried);

// The address of `name` in the plugin, or nullptr.
void* plugin_symbol(const OpenedPlugin& plugin, const char* name);

}  // namespace medcode::util
