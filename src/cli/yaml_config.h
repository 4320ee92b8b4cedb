// Reads medcode.yaml into CLI11 config items, so a config file fills options not given on the command line.
#pragma once

#include <CLI/CLI.hpp>

namespace medcode::cli {

// Top-level keys are global options; a mapping under a subcommand's name holds that subcommand's options
// (nested for nested subcommands). An item whose MEDCODE_<NAME> environment variable is set is dropped, so
// the environment outranks the file.
class YamlConfig : public CLI::Config {
 public:
  std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                        std::string prefix) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

}  // namespace medcode::cli
