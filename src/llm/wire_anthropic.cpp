// Anthropic Messages API. https://docs.anthropic.com/en/api/messages
#include <nlohmann/json.hpp>

#include "medcode/llm/wire_format.h"
#include "wire_common.h"

namespace medcode::llm {

namespace {

class AnthropicWireFormat : public JsonWireFormat {
 public:
  AnthropicWireFormat() : JsonWireFormat("anthropic", "type") {}

  HttpRequest build(const ModelConfig& model, const ChatRequest& request,
                    const std::optional<std::string>& api_key) const override {
    nlohmann::json messages = nlohmann::json::array();
    for (const auto& message : request.messages) {
      messages.push_back({{"role", message.role}, {"content", message.content}});
    }
    nlohmann::json body = {{"model", model.model_id},
                           {"max_tokens", output_limit(model, request)},
                           {"temperature", model.temperature},
                           {"messages", messages}};
    // Messages has no JSON mode: the schema is stated in the system prompt.
    std::string system = model.json_mode == JsonMode::none ? request.system : system_with_schema(request);
    if (!system.empty()) body["system"] = system;
    HttpRequest http;
    http.url = model.base_url + "/messages";
    http.headers.emplace_back("content-type", "application/json");
    http.headers.emplace_back("anthropic-version", "2023-06-01");
    if (api_key) http.headers.emplace_back("x-api-key", *api_key);
    add_extra_headers(http, model);
    http.body = body.dump();
    return http;
  }

  ChatResult parse(const HttpResponse& response) const override {
    nlohmann::json body = parse_object(response);
    if (!body.contains("content") || !body["content"].is_array())
      throw MalformedResponse("no content blocks");
    ChatResult result;
    bool any_text = false;
    for (const auto& block : body["content"]) {
      if (block.value("type", "") == "text" && block.contains("text") && block["text"].is_string()) {
        result.text += block["text"].get<std::string>();
        any_text = true;
      }
    }
    if (!any_text) throw MalformedResponse("no text block in the content");
    result.finish_reason = body.value("stop_reason", "");
    result.truncated = result.finish_reason == "max_tokens";
    result.response_id = body.value("id", "");
    result.model_id = body.value("model", "");
    if (body.contains("usage") && body["usage"].is_object()) {
      const auto& usage = body["usage"];
      auto count = [&usage](const char* name) -> std::int64_t {
        return usage.contains(name) && usage[name].is_number() ? usage[name].get<std::int64_t>() : 0;
      };
      Usage read;
      // input_tokens counts only what was neither read from nor written to the prompt cache.
      read.cached_input_tokens = count("cache_read_input_tokens");
      read.input_tokens =
          count("input_tokens") + read.cached_input_tokens + count("cache_creation_input_tokens");
      read.output_tokens = count("output_tokens");
      result.usage = read;
    }
    return result;
  }

 protected:
  std::string json_mode_label(JsonMode mode) const override {
    return mode == JsonMode::none ? "none" : "prompt";
  }
};

}  // namespace

std::unique_ptr<WireFormat> make_anthropic_wire_format() { return std::make_unique<AnthropicWireFormat>(); }

}  // namespace medcode::llm
