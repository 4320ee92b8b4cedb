// `--show-config`: every effective setting of the chosen command and where it came from.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace medcode::cli {

// Lines "name = value  (source)" for the options of `command` and its parents, the source being the command
// line, the environment (with the variable), the config file or the default.
std::vector<std::string> describe_settings(const CLI::App& command, const std::vector<std::string>& argv);

}  // namespace medcode::cli
