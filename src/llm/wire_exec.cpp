// The exec provider's "wire format": the prompt as plain text on the command's stdin, its stdout as the
// answer.
#include <nlohmann/json.hpp>

#include "medcode/llm/wire_format.h"
#include "medcode/util/text.h"

namespace medcode::llm {

namespace {

class ExecWireFormat : public WireFormat {
 public:
  HttpRequest build(const ModelConfig&, const ChatRequest& request,
                    const std::optional<std::string>&) const override {
    HttpRequest http;
    http.body = render_as_text(request);
    return http;
  }

  ChatResult parse(const HttpResponse& response) const override {
    ChatResult result;
    result.text = std::string(util::trim(response.body));
    if (result.text.empty()) throw MalformedResponse("the command printed nothing");
    result.finish_reason = "exit 0";
    return result;
  }

  std::string error_message(const HttpResponse& response) const override {
    if (!response.transport_error.empty()) return response.transport_error;
    std::string body(util::trim(response.body));
    return body.size() > 300 ? body.substr(body.size() - 300) : body;
  }

  nlohmann::json cache_params(const ModelConfig& model, const ChatRequest&) const override {
    return {{"provider", "exec"}, {"command", model.command}, {"model_id", model.model_id}};
  }
};

}  // namespace

std::unique_ptr<WireFormat> make_exec_wire_format() { return std::make_unique<ExecWireFormat>(); }

}  // namespace medcode::llm
