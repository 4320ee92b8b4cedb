// Model configuration: provider names, the built-in model table overlaid by the user's config, API keys.
#include "medcode/llm/model_config.h"

#include <yaml-cpp/yaml.h>

#include <fmt/ranges.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

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

namespace {

const std::set<std::string>& known_keys() {
  static const std::set<std::string> keys = {"provider",
                                             "model_id",
                                             "base_url",
                                             "api_key_env",
                                             "command",
                                             "input_per_million",
                                             "output_per_million",
                                             "cached_input_per_million",
                                             "prices_as_of",
                                             "requests_per_minute",
                                             "tokens_per_minute",
                                             "max_output_tokens",
                                             "temperature",
                                             "timeout_seconds",
                                             "max_attempts",
                                             "max_repairs",
                                             "max_concurrency",
                                             "initial_concurrency",
                                             "batch_size",
                                             "min_batch_size",
                                             "max_batch_size",
                                             "json_mode",
                                             "phi_allowed",
                                             "headers"};
  return keys;
}

template <typename T>
T read_value(const YAML::Node& node, const std::string& where) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    fail(ExitCode::usage, "{}: wrong type of value", where);
  }
}

// The default base URL of each provider, used when a model names none.
std::string default_base_url(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::openai:
      return "https://api.openai.com/v1";
    case ProviderKind::anthropic:
      return "https://api.anthropic.com/v1";
    case ProviderKind::gemini:
      return "https://generativelanguage.googleapis.com/v1beta";
    case ProviderKind::exec:
      return "";
  }
  return "";
}

void apply_key(ModelConfig& model, const std::string& key, const YAML::Node& value,
               const std::string& where) {
  if (key == "provider") {
    auto name = read_value<std::string>(value, where);
    auto kind = parse_provider(name);
    if (!kind)
      fail(ExitCode::usage, "{}: unknown provider '{}' (openai, anthropic, gemini, exec)", where, name);
    model.provider = *kind;
  } else if (key == "model_id") {
    model.model_id = read_value<std::string>(value, where);
  } else if (key == "base_url") {
    model.base_url = read_value<std::string>(value, where);
    while (!model.base_url.empty() && model.base_url.back() == '/') model.base_url.pop_back();
  } else if (key == "api_key_env") {
    model.api_key_env = value.IsNull() ? "" : read_value<std::string>(value, where);
  } else if (key == "command") {
    model.command = value.IsSequence() ? read_value<std::vector<std::string>>(value, where)
                                       : std::vector<std::string>{read_value<std::string>(value, where)};
  } else if (key == "input_per_million") {
    model.pricing.input_per_million = read_value<double>(value, where);
  } else if (key == "output_per_million") {
    model.pricing.output_per_million = read_value<double>(value, where);
  } else if (key == "cached_input_per_million") {
    model.pricing.cached_input_per_million = read_value<double>(value, where);
  } else if (key == "prices_as_of") {
    model.pricing.as_of = read_value<std::string>(value, where);
  } else if (key == "requests_per_minute") {
    model.requests_per_minute = read_value<int>(value, where);
  } else if (key == "tokens_per_minute") {
    model.tokens_per_minute = read_value<int>(value, where);
  } else if (key == "max_output_tokens") {
    model.max_output_tokens = read_value<int>(value, where);
  } else if (key == "temperature") {
    model.temperature = read_value<double>(value, where);
  } else if (key == "timeout_seconds") {
    model.timeout_seconds = read_value<double>(value, where);
  } else if (key == "max_attempts") {
    model.max_attempts = read_value<int>(value, where);
  } else if (key == "max_repairs") {
    model.max_repairs = read_value<int>(value, where);
  } else if (key == "max_concurrency") {
    model.max_concurrency = read_value<int>(value, where);
  } else if (key == "initial_concurrency") {
    model.initial_concurrency = read_value<int>(value, where);
  } else if (key == "batch_size") {
    model.batch.initial = read_value<int>(value, where);
  } else if (key == "min_batch_size") {
    model.batch.min = read_value<int>(value, where);
  } else if (key == "max_batch_size") {
    model.batch.max = read_value<int>(value, where);
  } else if (key == "json_mode") {
    auto mode = read_value<std::string>(value, where);
    if (mode == "schema") {
      model.json_mode = JsonMode::schema;
    } else if (mode == "object") {
      model.json_mode = JsonMode::object;
    } else if (mode == "none") {
      model.json_mode = JsonMode::none;
    } else {
      fail(ExitCode::usage, "{}: '{}' is not one of schema, object, none", where, mode);
    }
  } else if (key == "phi_allowed") {
    model.phi_allowed = read_value<bool>(value, where);
  } else if (key == "headers") {
    model.extra_headers = read_value<std::map<std::string, std::string>>(value, where);
  }
}

void check_model(const ModelConfig& model, const std::string& origin) {
  const std::string where = fmt::format("{}: models.{}", origin, model.name);
  if (model.model_id.empty() && model.provider != ProviderKind::exec)
    fail(ExitCode::usage, "{}: model_id is required", where);
  for (const auto& [name, value] : model.extra_headers) {
    // A credential written into the config would travel with it, into logs and shared files.
    std::string lower = util::to_lower(name);
    bool credential_name = false;
    for (const char* marker : {"auth", "key", "token", "secret", "password", "cookie", "credential"})
      credential_name = credential_name || lower.find(marker) != std::string::npos;
    bool credential_value = false;
    for (const char* prefix : {"Bearer ", "Basic ", "sk-", "sk_", "xoxb-", "ghp_", "AIza"})
      credential_value = credential_value || value.rfind(prefix, 0) == 0;
    bool literal = value.find("${") == std::string::npos;
    if (literal && (credential_name || credential_value))
      fail(ExitCode::usage,
           "{}.headers.{}: looks like a credential; put it in an environment variable (or ./.env) and write "
           "${{VARIABLE}} here (\"Bearer ${{VARIABLE}}\")",
           where, name);
  }
  if (model.provider == ProviderKind::exec && model.command.empty()) {
    fail(ExitCode::usage, "{}: the exec provider needs `command` (argv of the command to run)", where);
  }
  if (model.requests_per_minute < 0 || model.tokens_per_minute < 0 || model.max_output_tokens < 1 ||
      model.timeout_seconds <= 0 || model.max_attempts < 1 || model.max_repairs < 0 ||
      model.max_concurrency < 1) {
    fail(ExitCode::usage,
         "{}: limits must be positive (requests_per_minute, tokens_per_minute, "
         "max_output_tokens, timeout_seconds, max_attempts, max_concurrency)",
         where);
  }
  if (model.batch.min < 1 || model.batch.min > model.batch.max) {
    fail(ExitCode::usage, "{}: min_batch_size must be at least 1 and at most max_batch_size", where);
  }
  if (model.pricing.input_per_million < 0 || model.pricing.output_per_million < 0) {
    fail(ExitCode::usage, "{}: prices cannot be negative", where);
  }
}

}  // namespace

ModelRegistry ModelRegistry::defaults() {
  ModelRegistry registry;
  registry.overlay(std::string(builtin_config_text("medcode.yaml")), "built-in config/medcode.yaml");
  return registry;
}

ModelRegistry ModelRegistry::load(const std::optional<std::filesystem::path>& config_file) {
  ModelRegistry registry = defaults();
  if (config_file && std::filesystem::exists(*config_file)) {
    std::ifstream input(*config_file);
    std::stringstream text;
    text << input.rdbuf();
    registry.overlay(text.str(), config_file->string());
  }
  return registry;
}

void ModelRegistry::overlay(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(ExitCode::usage, "{}: not valid YAML: {}", origin, e.what());
  }
  if (!root.IsMap() || !root["models"]) return;
  const YAML::Node models = root["models"];
  if (!models.IsMap()) fail(ExitCode::usage, "{}: `models` must be a mapping of model names", origin);
  for (const auto& entry : models) {
    const std::string name = entry.first.as<std::string>();
    if (!entry.second.IsMap()) fail(ExitCode::usage, "{}: models.{} must be a mapping", origin, name);
    auto [it, added] = m_models.try_emplace(name);
    ModelConfig& model = it->second;
    model.name = name;
    bool provider_given = false;
    bool rpm_given = false;
    for (const auto& field : entry.second) {
      const std::string key = field.first.as<std::string>();
      const std::string where = fmt::format("{}: models.{}.{}", origin, name, key);
      if (!known_keys().count(key)) fail(ExitCode::usage, "{}: unknown key", where);
      if (key == "api_key" || key == "key") fail(ExitCode::usage, "{}: keys go in the environment", where);
      apply_key(model, key, field.second, where);
      provider_given |= key == "provider";
      rpm_given |= key == "requests_per_minute";
    }
    // A local command has no provider limit to respect unless the user states one.
    if (added && model.provider == ProviderKind::exec && !rpm_given) model.requests_per_minute = 0;
    if (added && !provider_given) fail(ExitCode::usage, "{}: models.{}: provider is required", origin, name);
    if (model.base_url.empty()) model.base_url = default_base_url(model.provider);
    if (model.pricing.as_of.empty()) model.pricing.as_of = "unknown";
    check_model(model, origin);
  }
}

void ModelRegistry::apply(const ModelOverrides& overrides) {
  if (overrides.requests_per_minute && *overrides.requests_per_minute < 1)
    fail(ExitCode::usage, "--rate-limit {}: must be at least 1 request per minute",
         *overrides.requests_per_minute);
  if (overrides.max_output_tokens && *overrides.max_output_tokens < 1)
    fail(ExitCode::usage, "--max-output-tokens {}: must be at least 1", *overrides.max_output_tokens);
  for (auto& [name, model] : m_models) {
    if (overrides.requests_per_minute) model.requests_per_minute = *overrides.requests_per_minute;
    if (overrides.max_output_tokens) model.max_output_tokens = *overrides.max_output_tokens;
  }
}

const ModelConfig& ModelRegistry::get(const std::string& name) const {
  auto it = m_models.find(name);
  if (it == m_models.end()) {
    fail(ExitCode::usage,
         "unknown model '{}'; configured models: {} (add one under `models:` in medcode.yaml)", name,
         fmt::join(names(), ", "));
  }
  return it->second;
}

std::vector<std::string> ModelRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, model] : m_models) out.push_back(name);
  return out;
}

namespace {

// KEY=VALUE lines of ./.env (comments, `export ` and quotes allowed); read once per process.
const std::map<std::string, std::string>& dotenv() {
  static std::map<std::string, std::string> values;
  static std::once_flag once;
  std::call_once(once, [] {
    std::ifstream input(".env");
    std::string line;
    while (std::getline(input, line)) {
      std::string_view text = util::trim(line);
      if (text.empty() || text.front() == '#') continue;
      if (text.rfind("export ", 0) == 0) text = util::trim(text.substr(7));
      auto equals = text.find('=');
      if (equals == std::string_view::npos) continue;
      std::string key(util::trim(text.substr(0, equals)));
      std::string value(util::trim(text.substr(equals + 1)));
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
          value.back() == value.front()) {
        value = value.substr(1, value.size() - 2);
      }
      values[key] = value;
    }
  });
  return values;
}

}  // namespace

std::optional<std::string> environment_value(const std::string& name) {
  if (const char* value = std::getenv(name.c_str()); value && *value) return std::string(value);
  auto it = dotenv().find(name);
  if (it != dotenv().end() && !it->second.empty()) return it->second;
  return std::nullopt;
}

namespace {

// `value` with each ${VAR} replaced; the values taken go to `taken`.
std::string expand_variables(const ModelConfig& model, const std::string& header, const std::string& value,
                             std::vector<std::string>* taken) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t open = value.find("${"); open != std::string::npos; open = value.find("${", at)) {
    std::size_t close = value.find('}', open);
    if (close == std::string::npos) break;
    std::string name = value.substr(open + 2, close - open - 2);
    auto found = environment_value(name);
    if (!found)
      fail(ExitCode::usage, "model {} header {} needs the environment variable {} (or ./.env); it is not set",
           model.name, header, name);
    out += value.substr(at, open - at) + *found;
    if (taken) taken->push_back(*found);
    at = close + 1;
  }
  return out + value.substr(at);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> resolved_headers(const ModelConfig& model) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : model.extra_headers)
    headers.emplace_back(name, expand_variables(model, name, value, nullptr));
  return headers;
}

std::vector<std::string> secrets_in_use(const ModelConfig& model) {
  std::vector<std::string> secrets;
  if (auto key = api_key(model)) secrets.push_back(*key);
  for (const auto& [name, value] : model.extra_headers) expand_variables(model, name, value, &secrets);
  return secrets;
}

std::optional<std::string> api_key(const ModelConfig& model) {
  if (model.api_key_env.empty()) return std::nullopt;
  if (const char* value = std::getenv(model.api_key_env.c_str()); value && *value) return std::string(value);
  auto it = dotenv().find(model.api_key_env);
  if (it != dotenv().end() && !it->second.empty()) return it->second;
  fail(ExitCode::usage,
       "model {} needs an API key in the environment variable {} (or in ./.env); it is not set", model.name,
       model.api_key_env);
}

}  // namespace medcode::llm
