// medcode.yaml support for CLI11 through yaml-cpp.
#include "yaml_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>


namespace medcode::cli {

namespace {

// The environment variable of the option that a config item fills, or "" when it has none (or when no
// option has that name: CLI11 reports the stray key).
std::string env_name(const CLI::App* root, const std::vector<std::string>& parents, const std::string& key) {
  const CLI::App* app = root;
  for (const std::string& parent : parents) {
    auto found = app->get_subcommands([&parent](const CLI::App* sub) { return sub->get_name() == parent; });
    if (found.empty()) return "";
    app = found.front();
  }
  std::string name = "--" + key;
  for (char& c : name) {
    if (c == '_') c = '-';
  }
  const CLI::Option* option = app->get_option_no_throw(name);
  return option ? option->get_envname() : "";
}

void collect(const CLI::App* root, const YAML::Node& node, std::vector<std::string>& parents,
             std::vector<CLI::ConfigItem>& items) {
  for (const auto& entry : node) {
    std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    // The model table is not an option: the llm module reads it from the same file.
    if (parents.empty() && key == "models") continue;
    if (value.IsMap()) {
      parents.push_back(key);
      collect(root, value, parents, items);
      parents.pop_back();
      continue;
    }
    std::string variable = env_name(root, parents, key);
    // CLI11 ignores an empty variable, so an empty one must not drop the file's value either.
    const char* set = variable.empty() ? nullptr : std::getenv(variable.c_str());
    if (set != nullptr && *set != '\0') continue;
    CLI::ConfigItem item;
    item.parents = parents;
    item.name = key;
    if (value.IsSequence()) {
      for (const auto& element : value) item.inputs.push_back(element.as<std::string>());
    } else if (value.IsNull()) {
      continue;
    } else {
      item.inputs.push_back(value.as<std::string>());
    }
    items.push_back(std::move(item));
  }
}

}  // namespace

std::string YamlConfig::to_config(const CLI::App* app, bool default_also, bool, std::string prefix) const {
  std::string out;
  for (const CLI::Option* option : app->get_options()) {
    if (option->get_lnames().empty() || !option->get_configurable()) continue;
    std::string value = option->as<std::string>();
    if (value.empty() && default_also) value = option->get_default_str();
    if (value.empty()) continue;
    out += prefix + option->get_lnames().front() + ": " + value + "\n";
  }
  return out;
}

std::vector<CLI::ConfigItem> YamlConfig::from_config(std::istream& input) const {
  YAML::Node root;
  try {
    root = YAML::Load(input);
  } catch (const YAML::Exception& e) {
    throw CLI::ConversionError("config file: " + std::string(e.what()));
  }
  std::vector<CLI::ConfigItem> items;
  if (root.IsNull()) return items;
  if (!root.IsMap()) throw CLI::ConversionError("config file: the top level must be a mapping of options");
  std::vector<std::string> parents;
  collect(m_root, root, parents, items);
  return items;
}

}  // namespace medcode::cli
