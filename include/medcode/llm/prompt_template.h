// Prompt templates (config/prompts/<task>.yaml): a system prompt, a user prompt, a repair prompt and the
// answer's JSON schema, with {{name}} placeholders. The built-in templates are compiled in; a folder given
// with --prompts overrides them file by file. They live with the engine because both stacks send prompts:
// the generation tasks and the llm: document coder.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "medcode/llm/wire_format.h"

namespace medcode::llm {

struct PromptTemplate {
  std::string name;     // the task
  std::string origin;   // where it was read from, for errors
  std::string version;  // the template's optional `version`, recorded with what it produced
  std::string system;
  std::string user;
  std::string repair;
  nlohmann::json schema;
};

// `<dir>/<task>.yaml` when `dir` is given and has it, else the built-in template. Error(usage) naming the
// file when it is not valid YAML or lacks system, user, repair or schema (`version` is optional).
PromptTemplate load_prompt_template(const std::string& task, const std::optional<std::filesystem::path>& dir);

// Parses template YAML; `origin` names it in errors.
PromptTemplate parse_prompt_template(const std::string& task, const std::string& yaml_text,
                                     const std::string& origin);

// Replaces each {{name}} with its value; an unknown placeholder is left as it is.
std::string render(std::string_view text, const std::map<std::string, std::string>& values);

// One chat request: the template's system and user prompts rendered with `values` and trimmed, with its
// answer schema.
ChatRequest render_request(const PromptTemplate& prompt, const std::map<std::string, std::string>& values);

// The compiled-in text of config/prompts/<name>; empty for an unknown name.
std::string_view builtin_prompt_text(std::string_view name);

}  // namespace medcode::llm
