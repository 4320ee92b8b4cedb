// OpenAI Chat Completions, also spoken by vLLM, llama.cpp server, Ollama, LM Studio and LiteLLM.
// https://platform.openai.com/docs/api-reference/chat/create
#include <nlohmann/json.hpp>

#include "medcode/llm/wire_format.h"
#include "wire_common.h"

namespace medcode::llm {

namespace {

class OpenAiWireFormat : public JsonWireFormat {
 public:
  OpenAiWireFormat() : JsonWireFormat("openai", "") {}

  HttpRequest build(const ModelConfig& model, const ChatRequest& request,
                    const std::optional<std::string>& api_key) const override {
    nlohmann::json messages = nlohmann::json::array();
    if (!request.system.empty()) messages.push_back({{"role", "system"}, {"content", request.system}});
    for (const auto& message : request.messages) {
      messages.push_back({{"role", message.role}, {"content", message.content}});
    }
    nlohmann::json body = {{"model", model.model_id},
                           {"messages", messages},
                           {"temperature", model.temperature},
                           {"max_tokens", output_limit(model, request)}};
    if (request.schema && model.json_mode == JsonMode::schema) {
      body["response_format"] = {
          {"type", "json_schema"},
          {"json_schema", {{"name", request.schema_name}, {"schema", *request.schema}, {"strict", false}}}};
    } else if (request.schema && model.json_mode == JsonMode::object) {
      body["response_format"] = {{"type", "json_object"}};
    }
    HttpRequest http;
    http.url = model.base_url + "/chat/completions";
    http.headers.emplace_back("Content-Type", "application/json");
    if (api_key) http.headers.emplace_back("Authorization", "Bearer " + *api_key);
    add_extra_headers(http, model);
    http.body = body.dump();
    return http;
  }

  ChatResult parse(const HttpResponse& response) const override {
    nlohmann::json body = parse_object(response);
    if (!body.contains("choices") || !body["choices"].is_array() || body["choices"].empty()) {
      throw MalformedResponse("no choices in the response");
    }
    const auto& choice = body["choices"][0];
    if (!choice.contains("message") || !choice["message"].contains("content") ||
        !choice["message"]["content"].is_string()) {
      throw MalformedResponse("no message content in the first choice");
    }
    ChatResult result;
    result.text = choice["message"]["content"].get<std::string>();
    result.finish_reason = choice.value("finish_reason", "");
    result.truncated = result.finish_reason == "length";
    result.response_id = body.value("id", "");
    result.model_id = body.value("model", "");
    if (body.contains("usage") && body["usage"].is_object()) {
      const auto& usage = body["usage"];
      Usage read;
      read.input_tokens = usage.value("prompt_tokens", 0);
      read.output_tokens = usage.value("completion_tokens", 0);
      if (usage.contains("prompt_tokens_details") && usage["prompt_tokens_details"].is_object()) {
        read.cached_input_tokens = usage["prompt_tokens_details"].value("cached_tokens", 0);
      }
      result.usage = read;
    }
    return result;
  }

 protected:
  std::string json_mode_label(JsonMode mode) const override {
    return mode == JsonMode::schema ? "schema" : mode == JsonMode::object ? "object" : "none";
  }
};

}  // namespace

std::unique_ptr<WireFormat> make_openai_wire_format() { return std::make_unique<OpenAiWireFormat>(); }

}  // namespace medcode::llm
