// The HTTP side of `medcode serve`: routes, request parsing, answers with descriptions and supporting lines,
// the bearer key, metrics and logging. Coding itself happens in the coders' BatchQueues.
#include "medcode/serve/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "medcode/codes/code_system.h"
#include "medcode/pdf/pdf_text.h"
#include "medcode/serve/page.h"
#include "medcode/serve/support_lines.h"
#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "medcode/version.h"

namespace medcode::serve {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* k_timing_header = "Server-Timing";

// An answer the client got wrong: its HTTP status, OpenAI's error type and a one-line message.
struct HttpError {
  int status;
  std::string type;
  std::string message;
};

[[noreturn]] void reject(int status, std::string message, std::string type = "invalid_request_error") {
  throw HttpError{status, std::move(type), std::move(message)};
}

void send_json(httplib::Response& response, const json& body, int status = 200) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& response, const HttpError& error) {
  send_json(response, {{"error", {{"message", error.message}, {"type", error.type}, {"code", error.status}}}},
            error.status);
}

// The route a path belongs to, for metrics and logs: a fixed set, so clients cannot mint label values.
std::string route_of(const std::string& path) {
  static const std::vector<std::string> fixed = {"/",           "/health",          "/v1/models",
                                                 "/v1/predict", "/v1/predict/pdf", "/v1/chat/completions",
                                                 "/metrics"};
  if (std::find(fixed.begin(), fixed.end(), path) != fixed.end()) return path;
  if (path.rfind("/v1/codes/", 0) == 0) return "/v1/codes/{code}";
  return "other";
}

const json& field(const json& body, const char* name) {
  static const json absent;
  auto it = body.find(name);
  return it == body.end() ? absent : *it;
}

std::optional<std::size_t> positive_field(const json& body, const char* name, bool zero_allowed = false) {
  const json& value = field(body, name);
  if (value.is_null()) return std::nullopt;
  if (!value.is_number_integer() || value.get<std::int64_t>() < (zero_allowed ? 0 : 1) ||
      value.get<std::int64_t>() > 10000)
    reject(400, fmt::format("field '{}' must be an integer from {} to 10000", name, zero_allowed ? 0 : 1));
  return value.get<std::size_t>();
}

json parse_body(const httplib::Request& request) {
  if (request.body.empty()) reject(400, "the request has no body; send a JSON object");
  json body;
  try {
    body = json::parse(request.body);
  } catch (const json::exception& error) {
    std::size_t at = 0;
    if (const auto* parse = dynamic_cast<const json::parse_error*>(&error)) at = parse->byte;
    reject(400, fmt::format("the body is not valid JSON (at byte {})", at));
  }
  if (!body.is_object()) reject(400, "the body must be a JSON object");
  return body;
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  std::string x = util::sha256_hex(a);
  std::string y = util::sha256_hex(b);
  unsigned char difference = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    difference |= static_cast<unsigned char>(x[i] ^ y[i]);
  return difference == 0;
}

struct Server::Impl {
  ServeOptions options;
  std::vector<ServedCoder> coders;
  std::vector<std::unique_ptr<BatchQueue>> queues;  // one per coder, same order
  store::Database& db;
  codes::ReleaseInfo release;
  std::string release_label;
  std::mutex catalog_mutex;
  codes::Catalog catalog;
  std::unordered_map<std::string, std::optional<codes::CodeRecord>> code_cache;  // under catalog_mutex
  Metrics metrics;
  httplib::Server http;
  Clock::time_point started = Clock::now();
  std::atomic<bool> stopping{false};

  Impl(ServeOptions options_, std::vector<ServedCoder> coders_, store::Database& db_, codes::ReleaseInfo release_)
      : options(std::move(options_)),
        coders(std::move(coders_)),
        db(db_),
        release(std::move(release_)),
        release_label(codes::release_label(release)),
        catalog(db, release) {
    if (coders.empty()) fail(ExitCode::usage, "serve: no coder to serve");
    for (auto& served : coders)
      queues.push_back(std::make_unique<BatchQueue>(*served.coder, served.id, served.batching, metrics));
    setup();
  }

  std::optional<codes::CodeRecord> find_code(const std::string& canonical) {
    std::lock_guard lock(catalog_mutex);
    auto it = code_cache.find(canonical);
    if (it != code_cache.end()) return it->second;
    auto record = catalog.find(canonical);
    if (code_cache.size() < 200000) code_cache.emplace(canonical, record);
    return record;
  }

  std::size_t coder_index(const json& name) {
    if (name.is_null()) return 0;
    if (!name.is_string()) reject(400, "field 'coder' must be a string");
    std::string wanted = name.get<std::string>();
    for (std::size_t i = 0; i < coders.size(); ++i)
      if (coders[i].id == wanted) return i;
    std::vector<std::string> ids;
    for (const auto& served : coders) ids.push_back(served.id);
    reject(400, fmt::format("unknown coder '{}' (served: {})", wanted, fmt::join(ids, ", ")));
  }

  void check_release(const json& wanted) {
    if (wanted.is_null()) return;
    bool matches = (wanted.is_string() && (wanted.get<std::string>() == release_label ||
                                           wanted.get<std::string>() == std::to_string(release.year))) ||
                   (wanted.is_number_integer() && wanted.get<int>() == release.year);
    if (!matches)
      reject(400, fmt::format("release {} is not served; this server codes with {}", wanted.dump(), release_label));
  }

  bool authorized(const httplib::Request& request) const {
    if (options.api_key.empty()) return true;
    std::string header = request.get_header_value("Authorization");
    constexpr std::string_view scheme = "Bearer ";
    std::string_view presented = header;
    if (presented.size() < scheme.size() || presented.substr(0, scheme.size()) != scheme) presented = {};
    else presented.remove_prefix(scheme.size());
    return constant_time_equal(presented, options.api_key) && !presented.empty();
  }

  // Runs a handler: the key, errors as JSON, and the time it took (read back by the logger).
  httplib::Server::Handler guarded(bool needs_key,
                                   std::function<void(const httplib::Request&, httplib::Response&)> handler) {
    return [this, needs_key, handler = std::move(handler)](const httplib::Request& request,
                                                            httplib::Response& response) {
      auto begun = Clock::now();
      try {
        if (needs_key && !authorized(request)) {
          response.set_header("WWW-Authenticate", "Bearer");
          reject(401, "a valid API key is required (Authorization: Bearer KEY)", "authentication_error");
        }
        handler(request, response);
      } catch (const HttpError& error) {
        send_error(response, error);
      } catch (const Error& error) {
        // The coder's or the PDF reader's own message: bad input is the client's, the rest is ours.
        int status = error.code() == ExitCode::bad_input ? 422 : error.code() == ExitCode::usage ? 400 : 500;
        if (status == 500) spdlog::error("{} {}: {}", request.method, request.path, error.what());
        send_error(response, {status, status == 500 ? "server_error" : "invalid_request_error", error.what()});
      } catch (const std::exception& error) {
        spdlog::error("{} {}: {}", request.method, request.path, error.what());
        send_error(response, {500, "server_error", "internal error; see the server's log"});
      }
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - begun).count();
      response.set_header(k_timing_header, fmt::format("app;dur={:.3f}", ms));
    };
  }

  // Codes `texts` with one coder and waits for every answer.
  std::vector<eval::Prediction> code(std::size_t coder, std::vector<std::string> texts, std::size_t k) {
    auto futures = queues[coder]->submit(std::move(texts), k);
    std::vector<eval::Prediction> predictions;
    predictions.reserve(futures.size());
    for (auto& future : futures) predictions.push_back(future.get());
    return predictions;
  }

  json code_json(const codes::CodeRecord& record, const eval::RankedCode& code, std::string_view text,
                 const std::vector<TextLine>& lines) {
    json evidence = json::array();
    for (const auto& span : code.evidence)
      evidence.push_back({{"begin", span.begin}, {"end", span.end}, {"text", span.text}});
    json support = json::array();
    for (const SupportLine& line : support_lines(text, lines, code, record.description)) {
      support.push_back({{"line", line.line.number},
                         {"page", line.line.page ? json(*line.line.page) : json(nullptr)},
                         {"text", line.text},
                         {"score", line.score},
                         {"terms", line.terms}});
    }
    json out = {{"code", record.code},
                {"description", record.description},
                {"score", code.score},
                {"valid", true},
                {"billable", record.billable},
                {"support", support}};
    if (!evidence.empty()) out["evidence"] = evidence;
    return out;
  }

  // One text's answer: the assigned codes (at most `top_k`), then `ranked` more of the ranking. Codes the
  // release lacks are dropped and counted, never shown.
  json result_json(std::size_t coder, const eval::Prediction& prediction, std::string_view text,
                   const std::vector<TextLine>& lines, std::optional<std::size_t> top_k, std::size_t ranked) {
    json assigned = json::array();
    json others = json::array();
    std::size_t dropped = 0;
    std::size_t limit = top_k.value_or(prediction.ranked.size());
    for (std::size_t i = 0; i < prediction.ranked.size(); ++i) {
      const eval::RankedCode& code = prediction.ranked[i];
      bool is_assigned = i < prediction.n_predicted;
      if (!is_assigned && others.size() >= ranked) continue;
      auto record = find_code(code.code);
      if (!record) {
        ++dropped;
        continue;
      }
      if (is_assigned && assigned.size() < limit) assigned.push_back(code_json(*record, code, text, lines));
      else if (!is_assigned && others.size() < ranked) others.push_back(code_json(*record, code, text, lines));
    }
    if (dropped > 0) metrics.dropped_invalid(coders[coder].id, dropped);
    if (prediction.prompt_tokens + prediction.generated_tokens > 0)
      metrics.tokens(coders[coder].id, prediction.prompt_tokens, prediction.generated_tokens);
    json out = {{"codes", assigned}, {"dropped_invalid", dropped}};
    if (ranked > 0) out["ranked"] = others;
    if (prediction.prompt_tokens + prediction.generated_tokens > 0) {
      out["prompt_tokens"] = prediction.prompt_tokens;
      out["generated_tokens"] = prediction.generated_tokens;
    }
    return out;
  }

  json envelope(std::size_t coder, Clock::time_point begun) {
    return {{"coder", coders[coder].id},
            {"release", release_label},
            {"milliseconds", std::chrono::duration<double, std::milli>(Clock::now() - begun).count()}};
  }

  void log_body(const httplib::Request& request) const {
    if (options.log_bodies) spdlog::info("{} {} body: {}", request.method, request.path, request.body);
  }

  // ---- handlers ----

  void predict(const httplib::Request& request, httplib::Response& response) {
    auto begun = Clock::now();
    log_body(request);
    json body = parse_body(request);
    static const std::vector<std::string> accepted = {"text", "texts", "top_k", "ranked", "release", "coder"};
    for (const auto& [key, value] : body.items()) {
      if (std::find(accepted.begin(), accepted.end(), key) == accepted.end())
        reject(400, fmt::format("unknown field '{}' (accepted: {})", key, fmt::join(accepted, ", ")));
    }
    const json& text = field(body, "text");
    const json& texts = field(body, "texts");
    if (text.is_null() == texts.is_null()) reject(400, "give exactly one of the fields 'text' and 'texts'");
    std::vector<std::string> inputs;
    if (!text.is_null()) {
      if (!text.is_string()) reject(400, "field 'text' must be a string");
      inputs.push_back(text.get<std::string>());
    } else {
      if (!texts.is_array() || texts.empty()) reject(400, "field 'texts' must be a non-empty array of strings");
      if (texts.size() > options.max_texts)
        reject(400, fmt::format("field 'texts' has {} texts; at most {} per request", texts.size(), options.max_texts));
      for (std::size_t i = 0; i < texts.size(); ++i) {
        if (!texts[i].is_string()) reject(400, fmt::format("texts[{}] must be a string", i));
        inputs.push_back(texts[i].get<std::string>());
      }
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].find_first_not_of(" \t\r\n") == std::string::npos)
        reject(400, inputs.size() == 1 ? "field 'text' is empty" : fmt::format("texts[{}] is empty", i));
    }
    std::optional<std::size_t> top_k = positive_field(body, "top_k");
    std::size_t ranked = positive_field(body, "ranked", true).value_or(0);
    check_release(field(body, "release"));
    std::size_t coder = coder_index(field(body, "coder"));
    std::size_t k = top_k.value_or(64) + ranked;
    std::vector<eval::Prediction> predictions = code(coder, inputs, k);
    json out = envelope(coder, begun);
    if (!text.is_null()) {
      json result = result_json(coder, predictions.front(), inputs.front(), split_lines(inputs.front()), top_k, ranked);
      out.update(result);
    } else {
      json results = json::array();
      for (std::size_t i = 0; i < inputs.size(); ++i)
        results.push_back(result_json(coder, predictions[i], inputs[i], split_lines(inputs[i]), top_k, ranked));
      out["results"] = results;
    }
    out["milliseconds"] = std::chrono::duration<double, std::milli>(Clock::now() - begun).count();
    send_json(response, out);
  }

  void predict_pdf(const httplib::Request& request, httplib::Response& response) {
    auto begun = Clock::now();
    std::string name = "upload.pdf";
    std::string_view bytes;
    json fields = json::object();
    if (request.is_multipart_form_data()) {
      if (!request.has_file("file")) reject(400, "the multipart form has no field 'file' (the PDF)");
      const auto& file = request.files.find("file")->second;
      if (!file.filename.empty()) name = file.filename;
      bytes = file.content;
      for (const char* key : {"top_k", "ranked", "coder", "release"}) {
        if (!request.has_file(key)) continue;
        const std::string& value = request.files.find(key)->second.content;
        if (std::string(key) == "coder" || std::string(key) == "release") {
          fields[key] = value;
        } else {
          json number = json::parse(value, nullptr, false);
          if (number.is_discarded()) reject(400, fmt::format("field '{}' must be an integer", key));
          fields[key] = number;
        }
      }
    } else {
      bytes = request.body;
      for (const char* key : {"top_k", "ranked"}) {
        if (!request.has_param(key)) continue;
        json number = json::parse(request.get_param_value(key), nullptr, false);
        if (number.is_discarded()) reject(400, fmt::format("parameter '{}' must be an integer", key));
        fields[key] = number;
      }
      for (const char* key : {"coder", "release"})
        if (request.has_param(key)) fields[key] = request.get_param_value(key);
    }
    if (bytes.empty()) reject(400, "no PDF in the request (multipart field 'file', or an application/pdf body)");
    if (!pdf::looks_like_pdf(bytes)) reject(415, fmt::format("{}: not a PDF (no %PDF- header)", name));
    std::optional<std::size_t> top_k = positive_field(fields, "top_k");
    std::size_t ranked = positive_field(fields, "ranked", true).value_or(0);
    check_release(field(fields, "release"));
    std::size_t coder = coder_index(field(fields, "coder"));
    pdf::PdfText document = pdf::extract_pdf_text(bytes, name);
    metrics.pdf_pages(document.pages.size());
    // Every page, empty ones too, so that split_page_lines numbers lines on the page they are on.
    std::string text;
    std::vector<std::string> page_texts;
    json pages = json::array();
    for (const auto& page : document.pages) {
      if (!page_texts.empty()) text += "\n\n";
      text += page.text;
      page_texts.push_back(page.text);
      pages.push_back({{"page", page.number}, {"chars", page.text.size()}});
    }
    std::vector<eval::Prediction> predictions = code(coder, {text}, top_k.value_or(64) + ranked);
    json out = envelope(coder, begun);
    out.update(result_json(coder, predictions.front(), text, split_page_lines(page_texts), top_k, ranked));
    out["file"] = name;
    out["pages"] = pages;
    out["milliseconds"] = std::chrono::duration<double, std::milli>(Clock::now() - begun).count();
    send_json(response, out);
  }

  // OpenAI's chat completions: the last user message is the note; the answer is the coder's own words (a
  // trained model's completion) or its codes, one per line with descriptions.
  void chat(const httplib::Request& request, httplib::Response& response) {
    auto begun = Clock::now();
    log_body(request);
    json body = parse_body(request);
    std::size_t coder = 0;
    const json& model = field(body, "model");
    if (!model.is_null()) {
      if (!model.is_string()) reject(400, "field 'model' must be a string");
      auto it = std::find_if(coders.begin(), coders.end(),
                             [&](const ServedCoder& served) { return served.id == model.get<std::string>(); });
      if (it == coders.end())
        reject(404, fmt::format("the model '{}' does not exist (GET /v1/models lists them)", model.get<std::string>()),
               "model_not_found");
      coder = static_cast<std::size_t>(it - coders.begin());
    }
    const json& messages = field(body, "messages");
    if (!messages.is_array() || messages.empty()) reject(400, "field 'messages' must be a non-empty array");
    std::optional<std::string> note;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const json& message = messages[i];
      if (!message.is_object() || !field(message, "role").is_string())
        reject(400, fmt::format("messages[{}] must be an object with a string 'role'", i));
      if (field(message, "role").get<std::string>() != "user") continue;
      const json& content = field(message, "content");
      if (content.is_string()) {
        note = content.get<std::string>();
      } else if (content.is_array()) {
        std::string joined;
        for (const json& part : content) {
          if (part.is_object() && field(part, "type") == "text" && field(part, "text").is_string())
            joined += (joined.empty() ? "" : "\n") + part["text"].get<std::string>();
        }
        note = joined;
      } else {
        reject(400, fmt::format("messages[{}].content must be a string or an array of text parts", i));
      }
    }
    if (!note || note->find_first_not_of(" \t\r\n") == std::string::npos)
      reject(400, "no user message with text to code");
    const json& stream = field(body, "stream");
    if (!stream.is_null() && !stream.is_boolean()) reject(400, "field 'stream' must be a boolean");

    eval::Prediction prediction = code(coder, {*note}, 64).front();
    json result = result_json(coder, prediction, *note, split_lines(*note), std::nullopt, 0);
    std::string content = prediction.completion;
    if (content.empty()) {
      std::vector<std::string> lines;
      for (const json& code : result["codes"])
        lines.push_back(code["code"].get<std::string>() + " " + code["description"].get<std::string>());
      content = fmt::format("{}", fmt::join(lines, "\n"));
    }
    auto created = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
    std::string id = "chatcmpl-" + util::sha256_hex(fmt::format("{}{}{}", created, *note, metrics.requests_total())).substr(0, 24);
    json usage = {{"prompt_tokens", prediction.prompt_tokens},
                  {"completion_tokens", prediction.generated_tokens},
                  {"total_tokens", prediction.prompt_tokens + prediction.generated_tokens}};
    json extension = {{"codes", result["codes"]}, {"release", release_label},
                      {"milliseconds", std::chrono::duration<double, std::milli>(Clock::now() - begun).count()}};
    if (stream.is_boolean() && stream.get<bool>()) {
      // Server-sent events as OpenAI streams them: the role, the content, the stop, then [DONE].
      json base = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", coders[coder].id}};
      std::string events;
      auto event = [&](json delta, json finish) {
        json chunk = base;
        chunk["choices"] = json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish)}}});
        events += "data: " + chunk.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
      };
      event({{"role", "assistant"}, {"content", ""}}, nullptr);
      event({{"content", content}}, nullptr);
      event(json::object(), "stop");
      events += "data: [DONE]\n\n";
      response.set_header("Cache-Control", "no-cache");
      response.set_content(events, "text/event-stream");
      return;
    }
    send_json(response, {{"id", id},
                         {"object", "chat.completion"},
                         {"created", created},
                         {"model", coders[coder].id},
                         {"choices", json::array({{{"index", 0},
                                                   {"message", {{"role", "assistant"}, {"content", content}}},
                                                   {"finish_reason", "stop"}}})},
                         {"usage", usage},
                         {"medcode", extension}});
  }

  void models(const httplib::Request&, httplib::Response& response) {
    json data = json::array();
    for (std::size_t i = 0; i < coders.size(); ++i) {
      json entry = {{"id", coders[i].id},          {"object", "model"},
                    {"created", 0},                {"owned_by", "medcode"},
                    {"kind", coders[i].kind},      {"release", release_label},
                    {"default", i == 0},           {"max_batch", coders[i].batching.max_batch},
                    {"batch_window_ms", coders[i].batching.window.count()}};
      if (!coders[i].version.empty()) entry["version"] = coders[i].version;
      data.push_back(entry);
    }
    json releases = json::array();
    {
      std::lock_guard lock(catalog_mutex);
      for (const auto& info : codes::list_releases(db))
        releases.push_back({{"release", codes::release_label(info)}, {"year", info.year},
                            {"served", info.id == release.id}});
    }
    send_json(response, {{"object", "list"}, {"data", data}, {"releases", releases}});
  }

  void code_lookup(const httplib::Request& request, httplib::Response& response) {
    std::string asked = request.matches.size() > 1 ? std::string(request.matches[1]) : std::string();
    std::optional<std::string> canonical = codes::canonical_code(release.system, asked);
    std::optional<codes::CodeRecord> record;
    if (canonical) record = find_code(*canonical);
    if (!record)
      reject(404, fmt::format("code '{}' is not in {}", asked, release_label), "not_found");
    json out = {{"code", record->code},
                {"description", record->description},
                {"billable", record->billable},
                {"kind", record->kind},
                {"release", release_label}};
    if (record->short_description) out["short_description"] = *record->short_description;
    if (record->parent) out["parent"] = *record->parent;
    if (record->chapter) out["chapter"] = *record->chapter;
    if (record->section) out["section"] = *record->section;
    if (!record->billable) {
      std::lock_guard lock(catalog_mutex);
      out["not_billable_reason"] = catalog.not_billable_reason(*record);
    }
    send_json(response, out);
  }

  void health(const httplib::Request&, httplib::Response& response) {
    std::vector<std::string> ids;
    for (const auto& served : coders) ids.push_back(served.id);
    json out = {{"status", stopping ? "stopping" : "ok"},
                {"version", k_version},
                {"release", release_label},
                {"coders", ids},
                {"uptime_seconds", std::chrono::duration<double>(Clock::now() - started).count()}};
    send_json(response, out, stopping ? 503 : 200);
  }

  void setup() {
    http.new_task_queue = [workers = options.workers] {
      return new httplib::ThreadPool(static_cast<std::size_t>(std::max(workers, 1)));
    };
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second server bind the
    // same port and silently take half of the connections.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    });
    // Headers and body go out in two writes: with Nagle's algorithm on, a keep-alive client's delayed ACK
    // holds the body back some 40 ms on every request after a connection's first.
    http.set_tcp_nodelay(true);
    http.set_payload_max_length(options.max_body);
    http.set_keep_alive_timeout(5);
    http.set_read_timeout(30, 0);
    http.set_write_timeout(30, 0);

    http.Get("/", guarded(false, [](const httplib::Request&, httplib::Response& response) {
      // The page fetches nothing from elsewhere; the policy makes a browser hold it to that.
      response.set_header("Content-Security-Policy",
                          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                          "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'");
      response.set_header("X-Content-Type-Options", "nosniff");
      response.set_content(std::string(embedded_page("index.html")), "text/html; charset=utf-8");
    }));
    http.Get("/health", guarded(false, [this](const auto& q, auto& r) { health(q, r); }));
    http.Get("/v1/models", guarded(true, [this](const auto& q, auto& r) { models(q, r); }));
    http.Get(R"(/v1/codes/([^/]+))", guarded(true, [this](const auto& q, auto& r) { code_lookup(q, r); }));
    http.Post("/v1/predict", guarded(true, [this](const auto& q, auto& r) { predict(q, r); }));
    http.Post("/v1/predict/pdf", guarded(true, [this](const auto& q, auto& r) { predict_pdf(q, r); }));
    http.Post("/v1/chat/completions", guarded(true, [this](const auto& q, auto& r) { chat(q, r); }));
    http.Get("/metrics", guarded(true, [this](const httplib::Request&, httplib::Response& response) {
      response.set_content(metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8");
    }));

    // Answers httplib gives itself (no route, a body over --max-body) get a JSON error like the others.
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& request,
                                                                   httplib::Response& response) {
      if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message =
          response.status == 413 ? "the request body is larger than the server's --max-body"
          : response.status == 404 ? fmt::format("no route {} {}", request.method, request.path)
                                   : fmt::format("HTTP {}", response.status);
      send_error(response, {response.status, response.status == 404 ? "not_found" : "invalid_request_error", message});
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_logger([this](const httplib::Request& request, const httplib::Response& response) {
      std::string route = route_of(request.path);
      std::string timing = response.get_header_value(k_timing_header);
      if (timing.rfind("app;dur=", 0) == 0) {
        double ms = std::strtod(timing.c_str() + 8, nullptr);
        metrics.request(request.method, route, response.status, ms / 1000);
        spdlog::info("{} {} {} {:.1f} ms {} B", request.method, request.path, response.status, ms, response.body.size());
      } else {
        metrics.request_without_duration(request.method, route, response.status);
        spdlog::info("{} {} {} {} B", request.method, request.path, response.status, response.body.size());
      }
    });
  }
};

Server::Server(ServeOptions options, std::vector<ServedCoder> coders, store::Database& db, codes::ReleaseInfo release)
    : m_impl(std::make_unique<Impl>(std::move(options), std::move(coders), db, std::move(release))) {}

Server::~Server() {
  for (auto& queue : m_impl->queues) queue->stop();
}

int Server::bind() {
  const ServeOptions& options = m_impl->options;
  int port = options.port == 0 ? m_impl->http.bind_to_any_port(options.host)
                               : (m_impl->http.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port < 0)
    fail(ExitCode::usage, "serve: cannot listen on {}:{} (in use, or not an address of this machine)", options.host,
         options.port);
  return port;
}

void Server::run() {
  m_impl->http.listen_after_bind();  // returns once stop() was called and the HTTP threads have finished
  for (auto& queue : m_impl->queues) queue->stop();
}

void Server::stop() {
  m_impl->stopping = true;
  m_impl->http.stop();
}

const Metrics& Server::metrics() const { return m_impl->metrics; }

}  // namespace medcode::serve
