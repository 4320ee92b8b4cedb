// What the three JSON wire formats share: reading a body as a JSON object, the provider's error message,
// the cache parameters and the user's extra headers.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "medcode/llm/wire_format.h"

namespace medcode::llm {

class JsonWireFormat : public WireFormat {
 public:
  // provider: the name in the cache parameters; error_label: the field of the error object that names its
  // kind ("type", "status"), or "" for none.
  JsonWireFormat(std::string provider, std::string error_label)
      : m_provider(std::move(provider)), m_error_label(std::move(error_label)) {}

  std::string error_message(const HttpResponse& response) const override;
  nlohmann::json cache_params(const ModelConfig& model, const ChatRequest& request) const override;

 protected:
  // How the format asks for JSON under `mode`, as recorded in the cache parameters.
  virtual std::string json_mode_label(JsonMode mode) const = 0;
  // The body as a JSON object; MalformedResponse when it is not one (truncated, HTML from a proxy, ...).
  static nlohmann::json parse_object(const HttpResponse& response);
  static void add_extra_headers(HttpRequest& request, const ModelConfig& model);

 private:
  std::string m_provider;
  std::string m_error_label;
};

}  // namespace medcode::llm
