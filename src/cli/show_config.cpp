// Effective settings and their sources, told apart after parsing: a name on the command line, a set
// environment variable, a value that can only have come from the config file, or the default.
#include "show_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace medcode::cli {

namespace {

// The options each command of the chain was given on the command line. An option belongs to the command
// whose name came before it (or to a parent, which lets its options follow a subcommand), so that a root
// `--config FILE` is not taken for `train --config`, nor the other way round. A value given apart from its
// option ("--db x") is skipped, so that a value that spells a subcommand's name does not switch commands.
std::set<const CLI::Option*> options_on_command_line(const std::vector<const CLI::App*>& chain,
                                                     const std::vector<std::string>& argv) {
  std::set<const CLI::Option*> given;
  std::size_t level = 0;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--") break;
    if (level + 1 < chain.size() && arg == chain[level + 1]->get_name()) {
      ++level;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') continue;
    const std::string name = arg.substr(0, arg.find('='));
    for (std::size_t owner = level + 1; owner-- > 0;) {
      const CLI::Option* option = chain[owner]->get_option_no_throw(name);
      if (!option) continue;
      given.insert(option);
      bool takes_value = option->get_expected_min() > 0;
      if (takes_value && name.size() == arg.size()) ++i;
      break;
    }
  }
  return given;
}

// Follows the order in which a value wins: command line, environment, config file, default. CLI11 counts a
// value from any of them, so a counted option neither named nor in the environment came from the file.
std::string source_of(const CLI::Option& option, const std::set<const CLI::Option*>& given) {
  if (option.count() == 0) return "default";
  if (given.contains(&option)) return "command line";
  const std::string& env = option.get_envname();
  if (!env.empty()) {
    const char* value = std::getenv(env.c_str());
    if (value != nullptr && *value != '\0') return "environment " + env;
  }
  // The config file's own option is set by its default when ./medcode.yaml exists, never by the file.
  if (!option.get_configurable()) return "default";
  return "config file";
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
  const std::set<const CLI::Option*> given = options_on_command_line(chain, argv);
  std::string prefix;  // the config file's nesting: "import.icd10cm."
  for (const CLI::App* node : chain) {
    if (node->get_parent()) prefix += node->get_name() + ".";
    for (const CLI::Option* option : node->get_options()) {
      if (option->get_lnames().empty() || option->get_name() == "--help" || option->get_name() == "--version" ||
          option->get_name() == "--show-config") {
        continue;
      }
      lines.push_back(fmt::format("{}{} = {}  ({})", prefix, option->get_lnames().front(), value_of(*option),
                                  source_of(*option, given)));
    }
  }
  return lines;
}

}  // namespace medcode::cli
