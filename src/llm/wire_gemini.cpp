// Google Gemini generateContent. https://ai.google.dev/api/generate-content
#include <nlohmann/json.hpp>

#include "medcode/llm/wire_format.h"
#include "wire_common.h"

namespace medcode::llm {

namespace {

class GeminiWireFormat : public JsonWireFormat {
 public:
  GeminiWireFormat() : JsonWireFormat("gemini", "status") {}

  HttpRequest build(const ModelConfig& model, const ChatRequest& request,
                    const std::optional<std::string>& api_key) const override {
    nlohmann::json contents = nlohmann::json::array();
    for (const auto& message : request.messages) {
      contents.push_back({{"role", message.role == "assistant" ? "model" : "user"},
                          {"parts", nlohmann::json::array({{{"text", message.content}}})}});
    }
    nlohmann::json generation = {{"temperature", model.temperature},
                                 {"maxOutputTokens", output_limit(model, request)}};
    bool json_answer = request.schema && model.json_mode != JsonMode::none;
    // responseSchema takes only an OpenAPI subset; the schema goes in the system instruction instead.
    if (json_answer) generation["responseMimeType"] = "application/json";
    nlohmann::json body = {{"contents", contents}, {"generationConfig", generation}};
    std::string system = json_answer ? system_with_schema(request) : request.system;
    if (!system.empty()) body["systemInstruction"] = {{"parts", nlohmann::json::array({{{"text", system}}})}};
    HttpRequest http;
    http.url = model.base_url + "/models/" + model.model_id + ":generateContent";
    http.headers.emplace_back("Content-Type", "application/json");
    if (api_key) http.headers.emplace_back("x-goog-api-key", *api_key);  // never as ?key= in a URL
    add_extra_headers(http, model);
    http.body = body.dump();
    return http;
  }

  ChatResult parse(const HttpResponse& response) const override {
    nlohmann::json body = parse_object(response);
    if (!body.contains("candidates") || !body["candidates"].is_array() || body["candidates"].empty()) {
      throw MalformedResponse("no candidates in the response");
    }
    const auto& candidate = body["candidates"][0];
    ChatResult result;
    bool any_text = false;
    if (candidate.contains("content") && candidate["content"].contains("parts")) {
      for (const auto& part : candidate["content"]["parts"]) {
        if (part.contains("text") && part["text"].is_string()) {
          result.text += part["text"].get<std::string>();
          any_text = true;
        }
      }
    }
    if (!any_text) throw MalformedResponse("no text in the first candidate");
    result.finish_reason = candidate.value("finishReason", "");
    result.truncated = result.finish_reason == "MAX_TOKENS";
    result.response_id = body.value("responseId", "");
    result.model_id = body.value("modelVersion", "");
    if (body.contains("usageMetadata") && body["usageMetadata"].is_object()) {
      const auto& usage = body["usageMetadata"];
      Usage read;
      read.input_tokens = usage.value("promptTokenCount", 0);
      read.output_tokens = usage.value("candidatesTokenCount", 0);
      read.cached_input_tokens = usage.value("cachedContentTokenCount", 0);
      result.usage = read;
    }
    return result;
  }

 protected:
  std::string json_mode_label(JsonMode mode) const override {
    return mode == JsonMode::none ? "none" : "mime";
  }
};

}  // namespace

std::unique_ptr<WireFormat> make_gemini_wire_format() { return std::make_unique<GeminiWireFormat>(); }

}  // namespace medcode::llm
