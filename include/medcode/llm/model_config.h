// A configured model: which provider and wire format, where, at what price and under which limits.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::llm {

enum class ProviderKind { openai, anthropic, gemini, exec };

const char* provider_name(ProviderKind kind);
// "openai", "anthropic", "gemini", "exec"; std::nullopt for anything else.
std::optional<ProviderKind> parse_provider(std::string_view name);

// USD per million tokens, from a price table of a given date.
struct Pricing {
  double input_per_million = 0;
  double output_per_million = 0;
  std::optional<double> cached_input_per_million;  // where the provider bills cached input apart
  std::string as_of;                               // "2026-11-01": when the prices were read
};

// OpenAI's response_format: a JSON schema, a plain JSON object, or nothing (prompt only).
enum class JsonMode { schema, object, none };

struct BatchPolicy {
  int initial = 10;
  int min = 1;
  int max = 50;
};

struct ModelConfig {
  std::string name;  // the key under `models:`, used on the command line and in the store
  ProviderKind provider = ProviderKind::openai;
  std::string model_id;              // the provider's model name
  std::string base_url;              // e.g. https://api.openai.com/v1; empty for exec
  std::string api_key_env;           // variable holding the key; empty: send no key (local servers)
  std::vector<std::string> command;  // exec: argv of the command that reads the prompt on stdin
  Pricing pricing;
  int requests_per_minute = 60;
  int tokens_per_minute = 0;  // 0: no token limit
  int max_output_tokens = 4096;
  double temperature = 0.2;
  double timeout_seconds = 120;  // per request
  int max_attempts = 5;          // HTTP attempts per request, first one included
  int max_repairs = 2;           // repair prompts after an answer that fails validation
  int max_concurrency = 32;      // upper bound of the AIMD concurrency control
  int initial_concurrency = 4;
  BatchPolicy batch;
  JsonMode json_mode = JsonMode::schema;
  bool phi_allowed = false;  // may receive content derived from credentialed clinical data (MIMIC)
  // Extra HTTP headers. A value may name environment variables as ${VAR} (read like the API key); a
  // credential must come that way, never written in the config.
  std::map<std::string, std::string> extra_headers;
};

// Limits given on the command line for every model of one run (`--rate-limit`, `--max-output-tokens`); an
// unset field keeps each model's configured value.
struct ModelOverrides {
  std::optional<int> requests_per_minute;
  std::optional<int> max_output_tokens;
};

// The models known to a run: built-in defaults (config/medcode.yaml, compiled in) overlaid by the `models:`
// mapping of the user's config file, key by key within each model.
class ModelRegistry {
 public:
  // Built-in defaults only.
  static ModelRegistry defaults();
  // Defaults overlaid by `models:` in `config_file` (when it exists). Error(usage) naming the file and key on
  // an unknown key, a wrong type or an unknown provider.
  static ModelRegistry load(const std::optional<std::filesystem::path>& config_file);
  // Parses YAML text holding a `models:` mapping over what is already registered; `origin` names it in
  // errors.
  void overlay(const std::string& yaml_text, const std::string& origin);
  // Sets the overridden limits on every model. Error(usage) naming the option when a value is below 1.
  void apply(const ModelOverrides& overrides);

  // Error(usage) listing the known names when `name` is not configured.
  const ModelConfig& get(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ModelConfig> m_models;
};

// A secret's value from the environment, else from `./.env` (read once); std::nullopt when unset or empty.
std::optional<std::string> environment_value(const std::string& name);

// The API key for `model` from the environment (or a `.env` file in the working directory, read once);
// std::nullopt when the model needs none. Error(usage) naming the variable, never a value, when it is unset.
std::optional<std::string> api_key(const ModelConfig& model);

// The model's extra headers with every ${VAR} replaced by the variable's value (environment, then ./.env).
// Error(usage) naming the header and the variable, never a value, when one is unset.
std::vector<std::pair<std::string, std::string>> resolved_headers(const ModelConfig& model);

// Every secret a request to `model` carries: the API key and the values its headers take from the
// environment. Error and answer text is redacted against all of them.
std::vector<std::string> secrets_in_use(const ModelConfig& model);

// The compiled-in text of config/<name> ("medcode.yaml"); empty for an unknown name.
std::string_view builtin_config_text(std::string_view name);

}  // namespace medcode::llm
