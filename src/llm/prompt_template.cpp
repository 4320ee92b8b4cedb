// Loading and rendering prompt templates; the schema is kept as JSON so it can be sent and validated.
#include "medcode/llm/prompt_template.h"

#include <yaml-cpp/yaml.h>

#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/text.h"

namespace medcode::llm {

namespace {

// YAML to JSON, keeping the YAML's scalars typed (true/false, integers, numbers, strings).
nlohmann::json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& entry : node) object[entry.first.as<std::string>()] = to_json(entry.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& element : node) array.push_back(to_json(element));
      return array;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "!") return text;  // quoted in the YAML: a string whatever it looks like
      if (text == "true") return true;
      if (text == "false") return false;
      try {
        std::size_t used = 0;
        long long integer = std::stoll(text, &used);
        if (used == text.size()) return integer;
        double number = std::stod(text, &used);
        if (used == text.size()) return number;
      } catch (const std::exception&) {
      }
      return text;
    }
    default:
      return nullptr;
  }
}

}  // namespace

PromptTemplate parse_prompt_template(const std::string& task, const std::string& yaml_text,
                                     const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(ExitCode::usage, "{}: not valid YAML: {}", origin, e.what());
  }
  PromptTemplate prompt;
  prompt.name = task;
  prompt.origin = origin;
  for (const char* key : {"system", "user", "repair", "schema"}) {
    if (!root.IsMap() || !root[key]) fail(ExitCode::usage, "{}: the template has no `{}`", origin, key);
  }
  prompt.system = root["system"].as<std::string>();
  prompt.user = root["user"].as<std::string>();
  prompt.repair = root["repair"].as<std::string>();
  prompt.schema = to_json(root["schema"]);
  if (root["version"]) prompt.version = root["version"].as<std::string>();
  if (!prompt.schema.is_object()) fail(ExitCode::usage, "{}: `schema` must be a JSON schema object", origin);
  return prompt;
}

PromptTemplate load_prompt_template(const std::string& task,
                                    const std::optional<std::filesystem::path>& dir) {
  const std::string file_name = task + ".yaml";
  if (dir && std::filesystem::exists(*dir / file_name)) {
    auto path = *dir / file_name;
    return parse_prompt_template(task, util::read_file(path), path.string());
  }
  std::string_view builtin = builtin_prompt_text(file_name);
  if (builtin.empty()) fail(ExitCode::usage, "no prompt template for task '{}'", task);
  return parse_prompt_template(task, std::string(builtin), "built-in config/prompts/" + file_name);
}

std::string render(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(text.size());
  std::size_t position = 0;
  while (position < text.size()) {
    std::size_t open = text.find("{{", position);
    if (open == std::string_view::npos) break;
    std::size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(text.substr(position, open - position));
    std::string name(text.substr(open + 2, close - open - 2));
    auto it = values.find(name);
    out.append(it != values.end() ? it->second : std::string(text.substr(open, close + 2 - open)));
    position = close + 2;
  }
  out.append(text.substr(position));
  return out;
}

ChatRequest render_request(const PromptTemplate& prompt, const std::map<std::string, std::string>& values) {
  ChatRequest request;
  request.system = util::trim(render(prompt.system, values));
  request.messages.push_back({"user", std::string(util::trim(render(prompt.user, values)))});
  request.schema = prompt.schema;
  request.schema_name = prompt.name;
  return request;
}

}  // namespace medcode::llm
