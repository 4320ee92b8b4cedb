// Reads medcode.yaml into CLI11 config items, so a config file fills options not given on the command line.
#pragma once

#include <CLI/CLI.hpp>

namespace medcode::cli {

// Top-level keys are global options; a mapping under a subcommand's name holds that subcommand's options
// (nested for nested subcommands). An item whose option's environment variable is set is dropped, so the
// environment outranks the file (CLI11 itself applies a config file before the environment).
class YamlConfig : public CLI::Config {
 public:
  // `root`: the application whose options the file fills, to find each item's option and its variable.
  explicit YamlConfig(const CLI::App* root) : m_root(root) {}
  std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                        std::string prefix) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  const CLI::App* m_root;
};

}  // namespace medcode::cli
