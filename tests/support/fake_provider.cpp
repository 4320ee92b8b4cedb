// The fake provider on cpp-httplib: reads each wire format's request, answers in the same format with usage
// and rate-limit headers, and applies queued faults and its own per-minute limits.
#include "support/fake_provider.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <stdexcept>

namespace medcode::testing {

namespace {

std::int64_t tokens_of(const std::string& text) { return static_cast<std::int64_t>((text.size() + 3) / 4); }

// The prompt of a request in any of the three formats, as the fake records it.
ProviderRequest read_request(const std::string& format, const httplib::Request& http) {
  ProviderRequest request;
  request.format = format;
  request.path = http.path;
  request.body = nlohmann::json::parse(http.body, nullptr, false);
  if (format == "openai") {
    std::string bearer = http.get_header_value("Authorization");
    if (bearer.rfind("Bearer ", 0) == 0) request.api_key = bearer.substr(7);
  } else if (format == "anthropic") {
    request.api_key = http.get_header_value("x-api-key");
  } else {
    request.api_key = http.get_header_value("x-goog-api-key");
  }
  if (!request.body.is_object()) return request;
  const auto& body = request.body;
  if (format == "openai") {
    request.model = body.value("model", "");
    for (const auto& message : body.value("messages", nlohmann::json::array())) {
      std::string role = message.value("role", "");
      if (role == "system") {
        request.system = message.value("content", "");
      } else {
        ++request.n_messages;
        if (role == "user") request.user_messages.push_back(message.value("content", ""));
      }
    }
  } else if (format == "anthropic") {
    request.model = body.value("model", "");
    request.system = body.value("system", "");
    for (const auto& message : body.value("messages", nlohmann::json::array())) {
      ++request.n_messages;
      if (message.value("role", "") == "user") request.user_messages.push_back(message.value("content", ""));
    }
  } else {
    auto colon = http.path.rfind(':');
    auto slash = http.path.rfind('/', colon);
    request.model = http.path.substr(slash + 1, colon - slash - 1);
    if (body.contains("systemInstruction")) {
      for (const auto& part : body["systemInstruction"].value("parts", nlohmann::json::array())) {
        request.system += part.value("text", "");
      }
    }
    for (const auto& content : body.value("contents", nlohmann::json::array())) {
      ++request.n_messages;
      if (content.value("role", "") != "user") continue;
      std::string text;
      for (const auto& part : content.value("parts", nlohmann::json::array())) text += part.value("text", "");
      request.user_messages.push_back(text);
    }
  }
  if (!request.user_messages.empty()) request.user = request.user_messages.back();
  return request;
}

std::string iso8601_in(double seconds) {
  std::time_t at = std::time(nullptr) + static_cast<std::time_t>(seconds + 0.999);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&at));
  return text;
}

nlohmann::json error_body(const std::string& format, int status, const std::string& type,
                          const std::string& message) {
  if (format == "anthropic") return {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
  if (format == "gemini") {
    std::string gemini_status = status == 429   ? "RESOURCE_EXHAUSTED"
                                : status == 401 ? "UNAUTHENTICATED"
                                : status == 400 ? "INVALID_ARGUMENT"
                                : status == 503 ? "UNAVAILABLE"
                                                : "INTERNAL";
    return {{"error", {{"code", status}, {"message", message}, {"status", gemini_status}}}};
  }
  return {{"error", {{"message", message}, {"type", type}, {"code", nullptr}}}};
}

nlohmann::json success_body(const std::string& format, const std::string& model, const std::string& text,
                            std::int64_t tokens_in, std::int64_t tokens_out, bool send_usage,
                            std::uint64_t serial, bool cut_at_limit = false) {
  nlohmann::json body;
  if (format == "openai") {
    body = {{"id", "chatcmpl-fake" + std::to_string(serial)},
            {"object", "chat.completion"},
            {"created", static_cast<std::int64_t>(std::time(nullptr))},
            {"model", model},
            {"choices",
             {{{"index", 0},
               {"message", {{"role", "assistant"}, {"content", text}}},
               {"finish_reason", cut_at_limit ? "length" : "stop"}}}}};
    if (send_usage) {
      body["usage"] = {{"prompt_tokens", tokens_in},
                       {"completion_tokens", tokens_out},
                       {"total_tokens", tokens_in + tokens_out}};
    }
  } else if (format == "anthropic") {
    body = {{"id", "msg_fake" + std::to_string(serial)},
            {"type", "message"},
            {"role", "assistant"},
            {"model", model},
            {"content", {{{"type", "text"}, {"text", text}}}},
            {"stop_reason", cut_at_limit ? "max_tokens" : "end_turn"},
            {"stop_sequence", nullptr}};
    if (send_usage) body["usage"] = {{"input_tokens", tokens_in}, {"output_tokens", tokens_out}};
  } else {
    body = {{"candidates",
             {{{"content", {{"role", "model"}, {"parts", {{{"text", text}}}}}},
               {"finishReason", cut_at_limit ? "MAX_TOKENS" : "STOP"},
               {"index", 0}}}},
            {"modelVersion", model},
            {"responseId", "fake" + std::to_string(serial)}};
    if (send_usage) {
      body["usageMetadata"] = {{"promptTokenCount", tokens_in},
                               {"candidatesTokenCount", tokens_out},
                               {"totalTokenCount", tokens_in + tokens_out}};
    }
  }
  return body;
}

// Sends the first half of `body` after announcing all of it, then closes the connection.
void send_truncated(httplib::Response& response, const std::string& body) {
  std::size_t cut = body.size() / 2;
  response.set_content_provider(body.size(), "application/json",
                                [body, cut](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                  if (offset < cut) sink.write(body.data() + offset, cut - offset);
                                  return false;
                                });
}

// A conversation grounded in the packet after "PACKET:": the doctor opens with the admission, then the
// pair goes through the chief complaint, the diagnoses, the labs and the discharge until MIN_TURNS is met.
std::string conversation_answer(const std::string& user) {
  auto packet_at = user.find("PACKET:");
  auto packet = nlohmann::json::parse(user.substr(user.find('{', packet_at)), nullptr, false);
  int min_turns = 8;
  if (auto at = user.find("MIN_TURNS: "); at != std::string::npos)
    min_turns = std::atoi(user.c_str() + at + 11);
  std::vector<std::string> topics;
  if (packet.is_object()) {
    const auto& admission = packet.value("admission", nlohmann::json::object());
    topics.push_back("you came in as an " + admission.value("admission_type", std::string("unplanned")) +
                     " admission on " + admission.value("admittime", std::string("the day you arrived")));
    for (const auto& diagnosis : packet.value("diagnoses", nlohmann::json::array())) {
      if (diagnosis.contains("long_title") && diagnosis["long_title"].is_string()) {
        topics.push_back("we are treating " + diagnosis["long_title"].get<std::string>());
      }
    }
    for (const auto& lab : packet.value("labs", nlohmann::json::array())) {
      if (lab.contains("label") && lab["label"].is_string()) {
        topics.push_back("your " + lab["label"].get<std::string>() + " came back");
      }
    }
  }
  nlohmann::json turns = nlohmann::json::array();
  for (int i = 0; i < min_turns || turns.size() % 2 != 0; ++i) {
    std::string topic =
        topics.empty() ? "how you are feeling" : topics[static_cast<std::size_t>(i / 2) % topics.size()];
    if (i % 2 == 0) {
      turns.push_back({{"speaker", "doctor"}, {"text", "Doctor here: " + topic + "."}});
    } else {
      turns.push_back({{"speaker", "patient"}, {"text", "I understand that " + topic + ", thank you."}});
    }
  }
  return nlohmann::json{{"turns", turns}}.dump();
}

}  // namespace

std::string default_answer(const ProviderRequest& request) {
  for (auto it = request.user_messages.rbegin(); it != request.user_messages.rend(); ++it) {
    if (it->find("PACKET:") != std::string::npos) return conversation_answer(*it);
  }
  std::string user = request.user;
  for (auto it = request.user_messages.rbegin(); it != request.user_messages.rend(); ++it) {
    if (it->find("ITEMS:") != std::string::npos) {
      user = *it;
      break;
    }
  }
  auto items_at = user.find("ITEMS:");
  nlohmann::json items = nlohmann::json::array();
  if (items_at != std::string::npos) {
    auto open = user.find('[', items_at);
    if (open != std::string::npos) {
      auto parsed = nlohmann::json::parse(user.substr(open), nullptr, false);
      if (parsed.is_array()) items = parsed;
    }
  }
  int count = 3;
  if (auto count_at = user.find("COUNT: "); count_at != std::string::npos) {
    count = std::max(1, std::atoi(user.c_str() + count_at + 7));
  }
  bool facets = request.system.find("body_region") != std::string::npos ||
                request.body.dump().find("body_region") != std::string::npos;
  nlohmann::json answers = nlohmann::json::array();
  for (const auto& item : items) {
    std::string id = item.value("id", "");
    std::string description = item.value("description", id);
    if (facets) {
      answers.push_back({{"id", id},
                         {"body_region", "not_applicable"},
                         {"body_system", "not_applicable"},
                         {"procedure_category", "other"},
                         {"complexity_level", "low"},
                         {"service_location", "any"},
                         {"em_level", "not_applicable"},
                         {"em_patient_type", "not_applicable"},
                         {"imaging_modality", "none"},
                         {"surgical_approach", "none"},
                         {"is_major_surgery", false},
                         {"uses_contrast", false}});
      continue;
    }
    nlohmann::json clinical = nlohmann::json::array();
    nlohmann::json lay = nlohmann::json::array();
    for (int i = 1; i <= count; ++i) {
      clinical.push_back("Patient presents with " + description + " (clinical " + std::to_string(i) + ")");
      lay.push_back("I was told I have " + description + " (lay " + std::to_string(i) + ")");
    }
    answers.push_back({{"id", id}, {"clinical", clinical}, {"lay", lay}});
  }
  return nlohmann::json{{"items", answers}}.dump();
}

FakeProvider::FakeProvider(FakeProviderOptions options, Answerer answerer)
    : m_options(std::move(options)),
      m_answerer(std::move(answerer)),
      m_server(std::make_unique<httplib::Server>()),
      m_fault_random(m_options.fault_seed) {
  m_last_refill = std::chrono::steady_clock::now();
  m_started = m_last_refill;
  m_request_budget = 2.0 * m_options.requests_per_minute / 60.0;
  m_token_budget = 2.0 * m_options.tokens_per_minute / 60.0;
  // Latency is a sleep in the handler: enough threads that concurrent requests wait side by side.
  m_server->new_task_queue = [] { return new httplib::ThreadPool(96); };
  m_server->Post("/v1/chat/completions",
                 [this](const httplib::Request& request, httplib::Response& response) {
                   handle("openai", request, response);
                 });
  m_server->Post("/v1/messages", [this](const httplib::Request& request, httplib::Response& response) {
    handle("anthropic", request, response);
  });
  m_server->Post(R"(/v1beta/models/([^/:]+):generateContent)",
                 [this](const httplib::Request& request, httplib::Response& response) {
                   handle("gemini", request, response);
                 });
  // Debian's httplib listens with a backlog of 5, too few for a client that opens dozens of connections at
  // once (the excess ones are reset). Linux lets listen() be called again on a listening socket to raise it.
  auto listening = std::make_shared<int>(-1);
  m_server->set_socket_options([listening](socket_t sock) {
    httplib::default_socket_options(sock);
    // Accepted sockets inherit this: without it, Nagle's algorithm and delayed ACKs add up to 40 ms to an
    // answer written in two parts (headers, then body), which no real provider's front end does.
    int on = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    *listening = sock;
  });
  m_port = m_server->bind_to_any_port("127.0.0.1");
  if (m_port <= 0) throw std::runtime_error("fake provider: cannot bind 127.0.0.1");
  if (*listening >= 0) ::listen(*listening, 1024);
  m_thread = std::thread([this] { m_server->listen_after_bind(); });
  for (int i = 0; i < 5000 && !m_server->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeProvider::~FakeProvider() {
  m_server->stop();
  if (m_thread.joinable()) m_thread.join();
}

std::string FakeProvider::base_url(const std::string& format) const {
  return "http://127.0.0.1:" + std::to_string(m_port) + (format == "gemini" ? "/v1beta" : "/v1");
}

void FakeProvider::inject(ProviderFault fault, int count) {
  std::lock_guard lock(m_mutex);
  for (int i = 0; i < count; ++i) m_faults.push_back(fault);
}

void FakeProvider::set_latency(std::chrono::milliseconds latency) {
  std::lock_guard lock(m_mutex);
  m_options.latency = latency;
}

std::vector<ProviderRequest> FakeProvider::requests() const {
  std::lock_guard lock(m_mutex);
  return m_requests;
}

std::size_t FakeProvider::request_count() const {
  std::lock_guard lock(m_mutex);
  return m_requests.size();
}

std::size_t FakeProvider::answered_ok() const {
  std::lock_guard lock(m_mutex);
  return m_answered_ok;
}

ProviderBill FakeProvider::billed() const {
  std::lock_guard lock(m_mutex);
  return m_billed;
}

bool FakeProvider::admit(std::int64_t tokens) {
  auto now = std::chrono::steady_clock::now();
  if (m_options.window_seconds > 0) {
    double window = m_options.window_seconds;
    double since = std::chrono::duration<double>(now - m_started).count();
    auto index = static_cast<std::int64_t>(since / window);
    double requests = std::max(1.0, std::floor(m_options.requests_per_minute * window / 60.0));
    double window_tokens = std::floor(m_options.tokens_per_minute * window / 60.0);
    if (index != m_window) {
      m_window = index;
      m_request_budget = requests;
      m_token_budget = window_tokens;
    }
    m_window_reset = (static_cast<double>(index) + 1) * window - since;
    if (m_options.requests_per_minute > 0 && m_request_budget < 1.0) return false;
    if (m_options.tokens_per_minute > 0 &&
        m_token_budget < std::min<double>(static_cast<double>(tokens), window_tokens))
      return false;
    if (m_options.requests_per_minute > 0) m_request_budget -= 1.0;
    if (m_options.tokens_per_minute > 0) m_token_budget -= static_cast<double>(tokens);
    return true;
  }
  double seconds = std::chrono::duration<double>(now - m_last_refill).count();
  m_last_refill = now;
  double rpm = m_options.requests_per_minute;
  double tpm = m_options.tokens_per_minute;
  m_request_budget = std::min(2.0 * rpm / 60.0, m_request_budget + seconds * rpm / 60.0);
  m_token_budget = std::min(2.0 * tpm / 60.0, m_token_budget + seconds * tpm / 60.0);
  if (rpm > 0 && m_request_budget < 1.0) return false;
  if (tpm > 0 && m_token_budget < std::min<double>(static_cast<double>(tokens), 2.0 * tpm / 60.0))
    return false;
  if (rpm > 0) m_request_budget -= 1.0;
  if (tpm > 0) m_token_budget -= static_cast<double>(tokens);
  return true;
}

void FakeProvider::handle(const std::string& format, const httplib::Request& http,
                          httplib::Response& response) {
  ProviderRequest request = read_request(format, http);
  std::int64_t tokens_in = tokens_of(request.system) + tokens_of(request.user) + 8;
  std::optional<ProviderFault> fault;
  bool admitted = true;
  std::chrono::milliseconds latency;
  std::size_t index = 0;
  std::int64_t remaining = 1000000;
  double window_reset = 0;
  {
    std::lock_guard lock(m_mutex);
    latency = m_options.latency;
    if (!m_faults.empty()) {
      fault = m_faults.front();
      m_faults.pop_front();
    } else if (m_options.fault_rate > 0 && !m_options.fault_mix.empty()) {
      std::uniform_real_distribution<double> draw(0.0, 1.0);
      if (draw(m_fault_random) < m_options.fault_rate) {
        fault = m_options.fault_mix[m_fault_random() % m_options.fault_mix.size()];
      }
    }
    if (!m_options.required_api_key.empty() && request.api_key != m_options.required_api_key) {
      fault = ProviderFault::unauthorized;
    }
    if (!fault) admitted = admit(tokens_in);
    if (m_options.requests_per_minute > 0) remaining = static_cast<std::int64_t>(m_request_budget);
    window_reset = m_window_reset;
    index = m_requests.size();
    request.serial = index + 1;
    m_requests.push_back(request);
  }
  if (latency.count() > 0) std::this_thread::sleep_for(latency);

  // Rate-limit headers on every answer, in the provider's own style.
  double reset = m_options.window_seconds > 0        ? window_reset
                 : m_options.requests_per_minute > 0 ? 60.0 / m_options.requests_per_minute
                                                     : 0.0;
  if (format == "anthropic") {
    response.set_header("anthropic-ratelimit-requests-limit",
                        std::to_string(std::max(0, m_options.requests_per_minute)));
    response.set_header("anthropic-ratelimit-requests-remaining", std::to_string(remaining));
    response.set_header("anthropic-ratelimit-requests-reset", iso8601_in(reset));
  } else if (format == "openai") {
    response.set_header("x-ratelimit-limit-requests",
                        std::to_string(std::max(0, m_options.requests_per_minute)));
    response.set_header("x-ratelimit-remaining-requests", std::to_string(remaining));
    response.set_header("x-ratelimit-reset-requests", std::to_string(static_cast<int>(reset * 1000)) + "ms");
  }

  int status = 200;
  auto error = [&](int code, const std::string& type, const std::string& message) {
    status = code;
    response.status = code;
    response.set_content(error_body(format, code, type, message).dump(), "application/json");
  };
  if (!admitted || fault == ProviderFault::rate_limited) {
    response.set_header("retry-after", std::to_string(m_options.retry_after_seconds));
    error(429, format == "anthropic" ? "rate_limit_error" : "rate_limit_exceeded",
          "Rate limit reached for requests");
  } else if (fault == ProviderFault::server_error) {
    error(500, format == "anthropic" ? "api_error" : "server_error", "The server had an error");
  } else if (fault == ProviderFault::overloaded) {
    if (format == "anthropic") {
      error(529, "overloaded_error", "Overloaded");
    } else {
      error(503, "overloaded", "The model is overloaded. Please try again later.");
    }
  } else if (fault == ProviderFault::unauthorized) {
    // Some providers quote the key they were sent; the client must not pass it on.
    error(401, format == "anthropic" ? "authentication_error" : "invalid_api_key",
          "Incorrect API key provided: " + request.api_key);
  } else if (fault == ProviderFault::bad_request) {
    error(400, "invalid_request_error", "Invalid request");
  } else {
    if (fault == ProviderFault::timeout) std::this_thread::sleep_for(m_options.timeout_hold);
    std::string text = m_answerer(request);
    if (fault == ProviderFault::schema_violation && text.find("\"turns\"") != std::string::npos) {
      text = nlohmann::json{{"turns",
                             {{{"speaker", "nurse"}, {"text", "The nurse speaks first."}},
                              {{"speaker", "patient"}, {"text", "Hello."}}}}}
                 .dump();
    } else if (fault == ProviderFault::schema_violation) {
      auto answer = nlohmann::json::parse(text, nullptr, false);
      std::string id = "?";
      if (answer.is_object() && answer.contains("items") && !answer["items"].empty()) {
        id = answer["items"][0].value("id", "?");
      }
      text = nlohmann::json{{"items", {{{"id", id}, {"clinical", "not an array"}}}}}.dump();
    } else if (fault == ProviderFault::not_json_answer) {
      text = "Sure! Here are some descriptions you might find useful.";
    }
    bool cut = fault == ProviderFault::output_limit;
    std::int64_t tokens_out = tokens_of(text);
    if (cut) {
      // Stops where the request's output limit would fall, at half the answer.
      text = text.substr(0, text.size() / 2);
      tokens_out = tokens_of(text);
    }
    std::uint64_t serial = index + 1;
    std::string body =
        success_body(format, request.model, text, tokens_in, tokens_out, m_options.send_usage, serial, cut)
            .dump();
    {
      // The answer was produced: a provider bills it whether or not the client reads it.
      std::lock_guard lock(m_mutex);
      if (fault != ProviderFault::invalid_json) {
        m_billed.input_tokens += tokens_in;
        m_billed.output_tokens += tokens_out;
        m_billed.answers++;
        m_requests[index].billed_input_tokens = tokens_in;
        m_requests[index].billed_output_tokens = tokens_out;
      }
    }
    if (fault == ProviderFault::invalid_json) {
      response.set_content("<html><body>502 Bad Gateway</body></html>", "application/json");
    } else if (fault == ProviderFault::truncated_body) {
      send_truncated(response, body);
    } else {
      response.set_content(body, "application/json");
      if (fault != ProviderFault::schema_violation && fault != ProviderFault::not_json_answer) {
        std::lock_guard lock(m_mutex);
        ++m_answered_ok;
      }
    }
  }
  std::lock_guard lock(m_mutex);
  m_requests[index].status = status;
}

}  // namespace medcode::testing
