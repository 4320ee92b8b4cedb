// Google Gemini generateContent. https://ai.google.dev/api/generate-content
#include <nlohmann/json.hpp>

#include "medcode/llm/wire_format.h"

namespace medcode::llm {

namespace {

class GeminiWireFormat : public WireFormat {
 public:
  HttpRequest build(const ModelConfig& model, const ChatRequest& request,
                    const std::optional<std::string>& api_key) const override {
    nlohmann::json contents = nlohmann::json::array();
    for (const auto& message : request.messages) {
      contents.push_back({{"role", message.role == "assistant" ? "model" : "user"},
                          {"parts", nlohmann::json::array({{{"text", message.content}}})}});
    }
    nlohmann::json generation = {{"temperature", model.temperature},
                                 {"maxOutputTokens", model.max_output_tokens}};
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
    for (const auto& [name, value] : model.extra_headers) http.headers.emplace_back(name, value);
    http.body = body.dump();
    return http;
  }

  ChatResult parse(const HttpResponse& response) const override {
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) throw MalformedResponse("the body is not JSON");
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

  std::string error_message(const HttpResponse& response) const override {
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (!body.is_discarded() && body.is_object() && body.contains("error") && body["error"].is_object()) {
      const auto& error = body["error"];
      std::string status = error.value("status", "");
      std::string message = error.value("message", "");
      if (!message.empty()) return status.empty() ? message : status + ": " + message;
    }
    return response.body.empty() ? "no message" : response.body.substr(0, 300);
  }

  nlohmann::json cache_params(const ModelConfig& model, const ChatRequest&) const override {
    return {{"provider", "gemini"},
            {"model_id", model.model_id},
            {"temperature", model.temperature},
            {"max_output_tokens", model.max_output_tokens},
            {"json_mode", model.json_mode == JsonMode::none ? "none" : "mime"}};
  }
};

}  // namespace

std::unique_ptr<WireFormat> make_gemini_wire_format() { return std::make_unique<GeminiWireFormat>(); }

}  // namespace medcode::llm
