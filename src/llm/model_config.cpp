// Model configuration: provider names, the built-in model table overlaid by the user's config, API keys.
#include "medcode/llm/model_config.h"

namespace medcode::llm {

const char* provider_name(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::openai:
      return "openai";
    case ProviderKind::anthropic:
      return "anthropic";
    case ProviderKind::gemini:
      return "gemini";
    case ProviderKind::exec:
      return "exec";
  }
  return "?";
}

std::optional<ProviderKind> parse_provider(std::string_view name) {
  if (name == "openai") return ProviderKind::openai;
  if (name == "anthropic") return ProviderKind::anthropic;
  if (name == "gemini") return ProviderKind::gemini;
  if (name == "exec") return ProviderKind::exec;
  return std::nullopt;
}

}  // namespace medcode::llm
