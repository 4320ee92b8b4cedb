// Effective settings and their sources, told apart after parsing: a name on the command line, a set
// environment variable, a value that can only have come from the config file, or the default.
#include "show_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>

namespace medcode::cli {

namespace {

bool named_on_command_line(const CLI::Option& option, const std::vector<std::string>& argv) {
  for (const std::string& arg : argv) {
    std::string name = arg.substr(0, arg.find('='));
    for (const std::string& long_name : option.get_lnames()) {
      if (name == "--" + long_name) return true;
    }
    for (const std::string& short_name : option.get_snames()) {
      if (name == "-" + short_name) return true;
    }
  }
  return false;
}

std::string source_of(const CLI::Option& option, const std::vector<std::string>& argv) {
  if (named_on_command_line(option, argv)) return "command line";
  const std::string& env = option.get_envname();
  if (!env.empty() && std::getenv(env.c_str()) != nullptr) return "environment " + env;
  // The config file's own option is set by its default when ./medcode.yaml exists, never by the file.
  if (option.count() > 0 && !option.get_configurable()) return "default";
  if (option.count() > 0) return "config file";
  return "default";
}

std::string value_of(const CLI::Option& option) {
  bool is_flag = option.get_expected_min() == 0;
  if (is_flag) return option.count() > 0 ? std::to_string(option.count()) : "0";
  if (option.count() == 0) return option.get_default_str().empty() ? "(none)" : option.get_default_str();
  return fmt::format("{}", fmt::join(option.results(), " "));
}

}  // namespace

std::vector<std::string> describe_settings(const CLI::App& command, const std::vector<std::string>& argv) {
  std::vector<const CLI::App*> chain;
  for (const CLI::App* node = &command; node; node = node->get_parent()) chain.push_back(node);
  std::reverse(chain.begin(), chain.end());
  std::vector<std::string> lines;
  std::string prefix;  // the config file's nesting: "import.icd10cm."
  for (const CLI::App* node : chain) {
    if (node->get_parent()) prefix += node->get_name() + ".";
    for (const CLI::Option* option : node->get_options()) {
      if (option->get_lnames().empty() || option->get_name() == "--help" || option->get_name() == "--version" ||
          option->get_name() == "--show-config") {
        continue;
      }
      lines.push_back(fmt::format("{}{} = {}  ({})", prefix, option->get_lnames().front(), value_of(*option),
                                  source_of(*option, argv)));
    }
  }
  return lines;
}

}  // namespace medcode::cli
