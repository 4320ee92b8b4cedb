// The generation tasks' prompt templates. Templates belong to the llm module (the llm: document coder in
// eval sends prompts too); the tasks name them in their own namespace.
#pragma once

#include "medcode/llm/prompt_template.h"

namespace medcode::dataset {

using llm::builtin_prompt_text;
using llm::load_prompt_template;
using llm::parse_prompt_template;
using llm::PromptTemplate;
using llm::render;
using llm::render_request;

}  // namespace medcode::dataset
