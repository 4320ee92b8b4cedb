// `medcode serve` as a client sees it: the binary started on a free port over a copy of the ICD-10-CM store,
// every endpoint and error over real HTTP, batching, the bearer key, SIGTERM with a request in flight, the
// trained model behind OpenAI's chat completions, and the web page driven by headless Chromium.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "support/fake_provider.h"
#include "support/medcode_process.h"
#include "support/pdf_writer.h"
#include "support/shared_store.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::BackgroundMedcode;
using testing::ProcessResult;
using testing::read_text;
using testing::TempDir;

constexpr const char* k_note =
    "Assessment:\n"
    "She has essential hypertension.\n"
    "Type 2 diabetes mellitus, diet controlled.\n";

// A server over `store` (copied into `dir`), started with `args` after `serve --port 0`; the port comes from
// the line it prints on stdout.
class ServerProcess {
 public:
  ServerProcess(const TempDir& dir, const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env = {}) {
    // Each server its own output files, so that one never reads the address an earlier one printed.
    static int started = 0;
    std::string name = "serve-" + std::to_string(++started);
    m_out = dir / (name + ".out");
    m_err = dir / (name + ".err");
    std::vector<std::string> all = {"--db", (dir / "serve.db").string(), "serve", "--port", "0"};
    all.insert(all.end(), args.begin(), args.end());
    m_process = std::make_unique<BackgroundMedcode>(all, dir.path(), env, m_out, m_err);
    std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+))");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch match;
      std::string out = fs::exists(m_out) ? read_text(m_out) : std::string();
      if (std::regex_search(out, match, listening)) {
        m_port = std::stoi(match[1]);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "the server did not start: " << read_text(m_err);
  }
  ~ServerProcess() = default;

  int port() const { return m_port; }
  httplib::Client client() const {
    httplib::Client client("127.0.0.1", m_port);
    client.set_read_timeout(120, 0);
    return client;
  }
  std::string log() const { return read_text(m_err); }
  // SIGTERM, then its exit code.
  int stop() {
    m_process->signal(SIGTERM);
    return m_process->wait();
  }

 private:
  fs::path m_out;
  fs::path m_err;
  std::unique_ptr<BackgroundMedcode> m_process;
  int m_port = 0;
};

json body_of(const httplib::Result& result) {
  if (!result) return json();
  return json::parse(result->body, nullptr, false);
}

std::string error_of(const httplib::Result& result) {
  json body = body_of(result);
  if (!body.is_object() || !body.contains("error")) return "(no JSON error) " + (result ? result->body : "");
  return body["error"]["message"].get<std::string>();
}

bool has_code(const json& codes, const std::string& code) {
  for (const auto& entry : codes)
    if (entry["code"] == code) return true;
  return false;
}

class ServeCommand : public ::testing::Test {
 protected:
  void SetUp() override { fs::copy_file(testing::icd10cm_2023_store(), m_dir / "serve.db"); }
  TempDir m_dir;
};

TEST_F(ServeCommand, EveryEndpointAnswers) {
  ServerProcess server(m_dir, {"--coder", "index", "--coder", "bm25"});
  ASSERT_GT(server.port(), 0);
  httplib::Client client = server.client();

  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(body_of(health)["status"], "ok");
  EXPECT_EQ(body_of(health)["release"], "ICD-10-CM 2023");

  auto models = client.Get("/v1/models");
  ASSERT_TRUE(models);
  json listed = body_of(models);
  EXPECT_EQ(listed["object"], "list");
  ASSERT_EQ(listed["data"].size(), 2u);
  EXPECT_EQ(listed["data"][0]["id"], "index");
  EXPECT_EQ(listed["data"][0]["default"], true);
  EXPECT_EQ(listed["data"][1]["id"], "bm25");
  EXPECT_EQ(listed["releases"][0]["served"], true);

  auto code = client.Get("/v1/codes/e119");  // any spelling of a code is looked up canonically
  ASSERT_TRUE(code);
  EXPECT_EQ(code->status, 200);
  EXPECT_EQ(body_of(code)["code"], "E11.9");
  EXPECT_EQ(body_of(code)["description"], "Type 2 diabetes mellitus without complications");
  EXPECT_EQ(body_of(code)["billable"], true);
  auto category = client.Get("/v1/codes/E11");
  ASSERT_TRUE(category);
  EXPECT_EQ(body_of(category)["billable"], false);
  EXPECT_NE(body_of(category)["not_billable_reason"].get<std::string>().find("child codes"), std::string::npos);
  auto missing = client.Get("/v1/codes/Q99.999");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(error_of(missing).find("Q99.999"), std::string::npos);

  // One note with the default coder: codes, descriptions, the coder's evidence and the supporting lines.
  auto coded = client.Post("/v1/predict", json{{"text", k_note}}.dump(), "application/json");
  ASSERT_TRUE(coded);
  ASSERT_EQ(coded->status, 200) << coded->body;
  json answer = body_of(coded);
  EXPECT_EQ(answer["coder"], "index");
  EXPECT_EQ(answer["release"], "ICD-10-CM 2023");
  EXPECT_TRUE(has_code(answer["codes"], "I10")) << answer.dump();
  EXPECT_TRUE(has_code(answer["codes"], "E11.9")) << answer.dump();
  for (const auto& entry : answer["codes"]) {
    if (entry["code"] != "I10") continue;
    EXPECT_EQ(entry["description"], "Essential (primary) hypertension");
    ASSERT_FALSE(entry["support"].empty());
    EXPECT_EQ(entry["support"][0]["line"], 2);
    EXPECT_EQ(entry["support"][0]["text"], "She has essential hypertension.");
    EXPECT_TRUE(entry["support"][0]["page"].is_null());
    ASSERT_TRUE(entry.contains("evidence"));
  }

  // Several texts, another coder, top_k and the next codes of its ranking.
  auto batch = client.Post(
      "/v1/predict",
      json{{"texts", {"acute appendicitis", "fracture of the left femur"}}, {"coder", "bm25"}, {"ranked", 3}}.dump(),
      "application/json");
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->status, 200) << batch->body;
  json results = body_of(batch)["results"];
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(body_of(batch)["coder"], "bm25");
  EXPECT_EQ(results[0]["codes"].size(), 1u);  // bm25 assigns its best code
  EXPECT_EQ(results[0]["ranked"].size(), 3u);
  EXPECT_EQ(results[0]["codes"][0]["code"].get<std::string>().substr(0, 3), "K35");

  // A PDF, uploaded as a form and as a raw body: page numbers are kept on the supporting lines.
  std::string pdf = testing::make_text_pdf(
      {{"Discharge summary", "History of present illness: chest pain."},
       {"Assessment and plan", "Essential hypertension, continue lisinopril."}});
  httplib::MultipartFormDataItems form = {{"file", pdf, "note.pdf", "application/pdf"}, {"top_k", "5", "", ""}};
  auto uploaded = client.Post("/v1/predict/pdf", form);
  ASSERT_TRUE(uploaded);
  ASSERT_EQ(uploaded->status, 200) << uploaded->body;
  json from_pdf = body_of(uploaded);
  EXPECT_EQ(from_pdf["file"], "note.pdf");
  ASSERT_EQ(from_pdf["pages"].size(), 2u);
  EXPECT_EQ(from_pdf["pages"][1]["page"], 2);
  ASSERT_TRUE(has_code(from_pdf["codes"], "I10")) << from_pdf.dump();
  for (const auto& entry : from_pdf["codes"]) {
    if (entry["code"] != "I10") continue;
    EXPECT_EQ(entry["support"][0]["page"], 2);
    EXPECT_EQ(entry["support"][0]["line"], 2);
  }
  auto raw = client.Post("/v1/predict/pdf?coder=bm25", pdf, "application/pdf");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 200) << raw->body;
  EXPECT_EQ(body_of(raw)["coder"], "bm25");

  // OpenAI's chat completions, plain and streamed.
  json chat = {{"model", "index"},
               {"messages", {{{"role", "system"}, {"content", "You are a coder."}}, {{"role", "user"}, {"content", k_note}}}}};
  auto completed = client.Post("/v1/chat/completions", chat.dump(), "application/json");
  ASSERT_TRUE(completed);
  ASSERT_EQ(completed->status, 200) << completed->body;
  json completion = body_of(completed);
  EXPECT_EQ(completion["object"], "chat.completion");
  EXPECT_EQ(completion["choices"][0]["message"]["role"], "assistant");
  std::string content = completion["choices"][0]["message"]["content"];
  EXPECT_NE(content.find("I10 Essential (primary) hypertension"), std::string::npos) << content;
  EXPECT_EQ(completion["choices"][0]["finish_reason"], "stop");
  chat["stream"] = true;
  auto streamed = client.Post("/v1/chat/completions", chat.dump(), "application/json");
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_NE(streamed->body.find("\"chat.completion.chunk\""), std::string::npos);
  EXPECT_NE(streamed->body.find("I10 Essential"), std::string::npos);
  EXPECT_EQ(streamed->body.substr(streamed->body.size() - 14), "data: [DONE]\n\n");
  chat["model"] = "gpt-4";
  auto unknown_model = client.Post("/v1/chat/completions", chat.dump(), "application/json");
  ASSERT_TRUE(unknown_model);
  EXPECT_EQ(unknown_model->status, 404);

  // The page, self-contained under its own policy.
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("id=\"note\""), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(page->body.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page->body.find("href=\"http"), std::string::npos);

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  const std::string& text = metrics->body;
  EXPECT_NE(text.find("medcode_http_requests_total{method=\"POST\",route=\"/v1/predict\",status=\"200\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("medcode_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"+Inf\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("medcode_http_requests_total{method=\"GET\",route=\"/v1/codes/{code}\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("medcode_pdf_pages_total 4"), std::string::npos);
  EXPECT_NE(text.find("medcode_texts_coded_total{coder=\"bm25\"} 3"), std::string::npos);
  EXPECT_NE(text.find("# TYPE medcode_batch_size histogram"), std::string::npos);

  EXPECT_EQ(server.stop(), 0);
  // No request text in the log without --log-bodies.
  std::string log = server.log();
  EXPECT_EQ(log.find("hypertension"), std::string::npos) << log;
  EXPECT_NE(log.find("POST /v1/predict 200"), std::string::npos) << log;
}

TEST_F(ServeCommand, BadRequestsGetClearErrors) {
  ServerProcess server(m_dir, {"--coder", "bm25", "--max-body", "64KB"});
  httplib::Client client = server.client();
  auto post = [&](const std::string& body) { return client.Post("/v1/predict", body, "application/json"); };
  struct Case {
    std::string body;
    int status;
    std::string message;
  };
  std::vector<Case> cases = {
      {"{\"text\": \"fever\"", 400, "not valid JSON (at byte"},
      {"[1, 2]", 400, "must be a JSON object"},
      {"{}", 400, "exactly one of the fields 'text' and 'texts'"},
      {R"({"text": 7})", 400, "field 'text' must be a string"},
      {R"({"text": "  "})", 400, "field 'text' is empty"},
      {R"({"texts": []})", 400, "non-empty array"},
      {R"({"texts": ["a", 3]})", 400, "texts[1] must be a string"},
      {R"({"text": "fever", "top-k": 3})", 400, "unknown field 'top-k'"},
      {R"({"text": "fever", "top_k": 0})", 400, "field 'top_k' must be an integer from 1"},
      {R"({"text": "fever", "coder": "index"})", 400, "unknown coder 'index' (served: bm25)"},
      {R"({"text": "fever", "release": "ICD-10-CM 2019"})", 400, "this server codes with ICD-10-CM 2023"},
  };
  for (const Case& c : cases) {
    auto result = post(c.body);
    ASSERT_TRUE(result) << c.body;
    EXPECT_EQ(result->status, c.status) << c.body << " → " << result->body;
    EXPECT_NE(error_of(result).find(c.message), std::string::npos) << c.body << " → " << result->body;
  }
  auto too_big = post(json{{"text", std::string(100000, 'a')}}.dump());
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  EXPECT_NE(error_of(too_big).find("--max-body"), std::string::npos);

  auto pdf_error = [&](const std::string& bytes, const std::string& name) {
    httplib::MultipartFormDataItems form = {{"file", bytes, name, "application/pdf"}};
    return client.Post("/v1/predict/pdf", form);
  };
  auto corrupt = pdf_error(testing::make_corrupt_pdf(), "broken.pdf");
  ASSERT_TRUE(corrupt);
  EXPECT_EQ(corrupt->status, 422);
  EXPECT_NE(error_of(corrupt).find("broken.pdf: not a readable PDF"), std::string::npos) << corrupt->body;
  auto scanned = pdf_error(testing::make_drawing_only_pdf(2), "scan.pdf");
  ASSERT_TRUE(scanned);
  EXPECT_EQ(scanned->status, 422);
  EXPECT_NE(error_of(scanned).find("scan.pdf: no text layer"), std::string::npos) << scanned->body;
  auto not_pdf = pdf_error("just some text", "note.txt");
  ASSERT_TRUE(not_pdf);
  EXPECT_EQ(not_pdf->status, 415);
  auto no_file = client.Post("/v1/predict/pdf", httplib::MultipartFormDataItems{{"top_k", "3", "", ""}});
  ASSERT_TRUE(no_file);
  EXPECT_EQ(no_file->status, 400);
  EXPECT_NE(error_of(no_file).find("no field 'file'"), std::string::npos);

  auto nowhere = client.Get("/v2/anything");
  ASSERT_TRUE(nowhere);
  EXPECT_EQ(nowhere->status, 404);
  EXPECT_NE(error_of(nowhere).find("no route GET /v2/anything"), std::string::npos);
  auto chat = client.Post("/v1/chat/completions", R"({"messages": [{"role": "system", "content": "hi"}]})",
                          "application/json");
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 400);
  EXPECT_NE(error_of(chat).find("no user message"), std::string::npos);

  // Still serving after all that.
  auto fine = post(R"({"text": "acute appendicitis"})");
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("medcode_http_request_errors_total{route=\"/v1/predict\"} 12"), std::string::npos)
      << metrics->body;
  EXPECT_EQ(server.stop(), 0);
}

TEST_F(ServeCommand, BadSetupsExitBeforeListening) {
  ProcessResult no_store = testing::run_medcode({"--db", (m_dir / "none.db").string(), "serve", "--coder", "bm25"});
  EXPECT_EQ(no_store.exit_code, 3);
  EXPECT_NE(no_store.err.find("none.db"), std::string::npos) << no_store.err;
  ProcessResult unknown = testing::run_medcode({"--db", (m_dir / "serve.db").string(), "serve", "--coder", "bm26"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("bm26"), std::string::npos) << unknown.err;
  ProcessResult no_key = testing::run_medcode(
      {"--db", (m_dir / "serve.db").string(), "serve", "--coder", "bm25", "--api-key-env", "MEDCODE_TEST_NO_KEY"},
      m_dir.path(), {{"MEDCODE_TEST_NO_KEY", ""}});
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.err.find("MEDCODE_TEST_NO_KEY"), std::string::npos) << no_key.err;
  ProcessResult majority = testing::run_medcode({"--db", (m_dir / "serve.db").string(), "serve", "--coder", "majority"});
  EXPECT_EQ(majority.exit_code, 2);
  EXPECT_NE(majority.err.find("--train"), std::string::npos) << majority.err;
  // A port that is taken.
  ServerProcess first(m_dir, {"--coder", "bm25"});
  BackgroundMedcode taken({"--db", (m_dir / "serve.db").string(), "serve", "--coder", "bm25", "--port",
                          std::to_string(first.port())},
                         m_dir.path(), {}, m_dir / "taken.out", m_dir / "taken.err");
  EXPECT_EQ(taken.wait_at_most(60), 2) << "a second server shares the port";
  EXPECT_NE(read_text(m_dir / "taken.err").find(std::to_string(first.port())), std::string::npos)
      << read_text(m_dir / "taken.err");
  EXPECT_EQ(first.stop(), 0);
}

TEST_F(ServeCommand, TheApiKeyGuardsTheApiButNotThePage) {
  const std::string key = "s3cret-key-for-tests";
  ServerProcess server(m_dir, {"--coder", "bm25", "--api-key-env", "MEDCODE_SERVE_KEY", "--log-bodies"},
                       {{"MEDCODE_SERVE_KEY", key}});
  httplib::Client client = server.client();
  EXPECT_EQ(client.Get("/health")->status, 200);
  EXPECT_EQ(client.Get("/")->status, 200);
  auto anonymous = client.Get("/v1/models");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(client.Get("/metrics")->status, 401);
  EXPECT_EQ(client.Post("/v1/predict", R"({"text": "fever"})", "application/json")->status, 401);
  EXPECT_EQ(client.Get("/v1/models", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(client.Get("/v1/models", {{"Authorization", "Bearer " + key + "x"}})->status, 401);
  EXPECT_EQ(client.Get("/v1/models", {{"Authorization", key}})->status, 401);  // no scheme
  client.set_bearer_token_auth(key);
  EXPECT_EQ(client.Get("/v1/models")->status, 200);
  auto coded = client.Post("/v1/predict", R"({"text": "intermittent fever with chills"})", "application/json");
  ASSERT_TRUE(coded);
  EXPECT_EQ(coded->status, 200);
  EXPECT_EQ(server.stop(), 0);
  // --log-bodies logs the text; the key is in no log line.
  std::string log = server.log();
  EXPECT_NE(log.find("intermittent fever with chills"), std::string::npos) << log;
  EXPECT_EQ(log.find(key), std::string::npos) << log;
}

// Concurrent requests gathered into batches; SIGTERM lets a request in flight finish, then the port closes.
TEST_F(ServeCommand, BatchesConcurrentRequestsAndFinishesInFlightOnSigterm) {
  ServerProcess server(m_dir, {"--coder", "bm25", "--batch-window-ms", "300", "--max-batch", "8"});
  const std::vector<std::string> notes = {"acute appendicitis",   "essential hypertension", "migraine",
                                          "asthma exacerbation",  "pneumonia",              "gout",
                                          "iron deficiency anemia", "urinary tract infection"};
  std::vector<std::future<int>> answers;
  for (const auto& note : notes) {
    answers.push_back(std::async(std::launch::async, [&server, note] {
      auto result = server.client().Post("/v1/predict", json{{"text", note}}.dump(), "application/json");
      return result ? result->status : -1;
    }));
  }
  for (auto& answer : answers) EXPECT_EQ(answer.get(), 200);
  std::string metrics = server.client().Get("/metrics")->body;
  std::smatch batches;
  ASSERT_TRUE(std::regex_search(metrics, batches, std::regex(R"(medcode_batch_size_count\{coder="bm25"\} (\d+))")))
      << metrics;
  EXPECT_LT(std::stoi(batches[1]), 8) << "eight concurrent texts were never coded together";
  EXPECT_NE(metrics.find("medcode_texts_coded_total{coder=\"bm25\"} 8"), std::string::npos) << metrics;

  // A request waits out the 300 ms window in the queue while SIGTERM arrives.
  auto in_flight = std::async(std::launch::async, [&server] {
    auto result = server.client().Post("/v1/predict", R"({"text": "chronic kidney disease"})", "application/json");
    return result ? result->status : -1;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int port = server.port();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(in_flight.get(), 200);
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(2, 0);
  EXPECT_FALSE(after.Get("/health"));
  EXPECT_NE(server.log().find("SIGTERM"), std::string::npos);
}

// A trained model behind the server: concurrent requests decoded in batches, OpenAI's chat completions giving
// the model's own completion (the same as `predict` prints), and an adapter on its base.
TEST_F(ServeCommand, TheTrainedModelIsBatchedAndAnswersChatCompletions) {
#ifndef MEDCODE_HAVE_MODEL
  GTEST_SKIP() << "medcode is built without the model stack (MEDCODE_WITH_TORCH=OFF)";
#else
  std::string db = (m_dir / "serve.db").string();
  auto medcode = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db});
    return testing::run_medcode(args, m_dir.path());
  };
  ProcessResult tokenized = medcode({"tokenize", "--dataset", testing::fixture("tokenize/export").string(), "--out",
                                     "tokenizer", "--vocab-size", "250", "--max-length", "64"});
  ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
  ProcessResult base = medcode({"train", "--stage", "base", "--config", "tiny", "--out", "base", "--max-steps", "12",
                                "--batch-size", "8"});
  ASSERT_EQ(base.exit_code, 0) << base.err;
  ProcessResult lora = medcode({"train", "--stage", "lora", "--base", "base", "--out", "lora", "--max-steps", "2",
                                "--batch-size", "8", "--lora-rank", "4"});
  ASSERT_EQ(lora.exit_code, 0) << lora.err;
  const std::string note = "Essential hypertension";
  ProcessResult alone = medcode({"predict", "--model", "base", "--text", note});
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  std::string completion = json::parse(alone.out)["completion"];

  {
    ServerProcess server(m_dir, {"--coder", "model:base", "--batch-window-ms", "400", "--max-batch", "8"});
    httplib::Client client = server.client();
    json models = body_of(client.Get("/v1/models"));
    EXPECT_EQ(models["data"][0]["kind"], "model");
    EXPECT_FALSE(models["data"][0]["version"].get<std::string>().empty());

    std::vector<std::future<json>> answers;
    for (const std::string text : {"migraine", "asthma", "gout", "anemia", "pneumonia", "fever"}) {
      answers.push_back(std::async(std::launch::async, [&server, text] {
        return body_of(server.client().Post("/v1/predict", json{{"text", text}}.dump(), "application/json"));
      }));
    }
    for (auto& answer : answers) {
      json body = answer.get();
      ASSERT_TRUE(body.contains("codes")) << body.dump();
      EXPECT_GT(body["generated_tokens"].get<int>(), 0);
      for (const auto& code : body["codes"]) EXPECT_TRUE(code["valid"].get<bool>());
    }
    std::string metrics = client.Get("/metrics")->body;
    std::smatch batches;
    ASSERT_TRUE(std::regex_search(metrics, batches, std::regex(R"(medcode_batch_size_count\{coder="model:base"\} (\d+))")))
        << metrics;
    EXPECT_LT(std::stoi(batches[1]), 6) << "six concurrent notes were decoded one by one";
    EXPECT_NE(metrics.find("medcode_generated_tokens_total{coder=\"model:base\"}"), std::string::npos);

    json chat = {{"messages", {{{"role", "user"}, {"content", note}}}}};
    json completed = body_of(client.Post("/v1/chat/completions", chat.dump(), "application/json"));
    ASSERT_TRUE(completed.contains("choices")) << completed.dump();
    EXPECT_EQ(completed["model"], "model:base");
    EXPECT_EQ(completed["choices"][0]["message"]["content"], completion);
    EXPECT_GT(completed["usage"]["prompt_tokens"].get<int>(), 0);
    EXPECT_GT(completed["usage"]["completion_tokens"].get<int>(), 0);
    EXPECT_EQ(server.stop(), 0);
  }
  ServerProcess adapted(m_dir, {"--coder", "model:base", "--adapter", "lora"});
  auto coded = adapted.client().Post("/v1/predict", json{{"text", note}}.dump(), "application/json");
  ASSERT_TRUE(coded);
  EXPECT_EQ(coded->status, 200) << coded->body;
  EXPECT_EQ(adapted.stop(), 0);
#endif
}

// A hosted model behind the server goes through the provider layer: the notes of concurrent requests share
// one engine run, the ledger answers a note it has seen, the key stays out of the log, and a code the model
// invents is never shown.
TEST_F(ServeCommand, AnLlmCoderGoesThroughTheProviderLayer) {
  testing::FakeProvider fake({}, [](const testing::ProviderRequest& request) {
    json picks = json::array();
    // Beside a real pick, a code of its own making; a note with nothing to pick gets an empty answer.
    if (request.user.find("ypertension") != std::string::npos) {
      picks.push_back({{"code", "I10"}, {"quote", "ypertension"}});
      picks.push_back({{"code", "Q99.9999"}, {"quote", "made up"}});
    }
    return json{{"codes", picks}}.dump();
  });
  std::ofstream(m_dir / "medcode.yaml")
      << "models:\n  fake:\n    provider: openai\n    model_id: fake-openai\n    base_url: " << fake.base_url("openai")
      << "\n    api_key_env: FAKE_PROVIDER_KEY\n    input_per_million: 0.5\n    output_per_million: 1.5\n"
         "    prices_as_of: \"2026-11-01\"\n    requests_per_minute: 6000\n    timeout_seconds: 5\n";
  const std::string secret = "sk-test-secret-serve-0123456789";
  ServerProcess server(m_dir, {"--coder", "llm:fake", "--batch-window-ms", "300"},
                       {{"FAKE_PROVIDER_KEY", secret}, {"MEDCODE_CONFIG", ""}});
  const std::vector<std::string> notes = {"Essential hypertension, on lisinopril.", "Hypertension follow-up.",
                                          "Chronic hypertension with headache.", "Knee pain after a fall."};
  auto code_all = [&] {
    std::vector<std::future<json>> answers;
    for (const auto& note : notes) {
      answers.push_back(std::async(std::launch::async, [&server, note] {
        return body_of(server.client().Post("/v1/predict", json{{"text", note}}.dump(), "application/json"));
      }));
    }
    std::vector<json> bodies;
    for (auto& answer : answers) bodies.push_back(answer.get());
    return bodies;
  };
  std::vector<json> first = code_all();
  ASSERT_EQ(first.size(), notes.size());
  for (std::size_t i = 0; i < notes.size(); ++i) {
    ASSERT_TRUE(first[i].contains("codes")) << first[i].dump();
    EXPECT_EQ(first[i]["coder"], "llm:fake");
    EXPECT_FALSE(has_code(first[i]["codes"], "Q99.9999")) << first[i].dump();
    if (i < 3) {
      EXPECT_TRUE(has_code(first[i]["codes"], "I10")) << first[i].dump();
    }
  }
  EXPECT_GE(fake.request_count(), 1u);
  // The same notes in one request twice: the second is answered from the ledger. (Concurrent requests may
  // gather into different batches, and so different prompts, from one time to the next.)
  json together = {{"texts", notes}};
  json once = body_of(server.client().Post("/v1/predict", together.dump(), "application/json"));
  ASSERT_TRUE(once.contains("results")) << once.dump();
  std::size_t sent = fake.request_count();
  json twice = body_of(server.client().Post("/v1/predict", together.dump(), "application/json"));
  EXPECT_EQ(fake.request_count(), sent) << "the ledger did not answer notes it had seen";
  EXPECT_EQ(twice["results"], once["results"]);
  std::string metrics = server.client().Get("/metrics")->body;
  std::smatch batches;
  ASSERT_TRUE(std::regex_search(metrics, batches, std::regex(R"(medcode_batch_size_count\{coder="llm:fake"\} (\d+))")))
      << metrics;
  EXPECT_LT(std::stoi(batches[1]), 8) << "concurrent notes were never coded together";
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(server.log().find(secret), std::string::npos);
}

// The predict command reads PDFs too: --file, and --input lines that name them.
TEST_F(ServeCommand, PredictCodesPdfFilesAndSaysWhichOneIsBad) {
  testing::write_file(m_dir / "note.pdf",
                      testing::make_text_pdf({{"History: chest pain."}, {"Essential hypertension."}}));
  testing::write_file(m_dir / "scan.pdf", testing::make_drawing_only_pdf(1));
  std::string db = (m_dir / "serve.db").string();
  ProcessResult one = testing::run_medcode({"--db", db, "predict", "--coder", "index", "--file", (m_dir / "note.pdf").string()});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  json answer = json::parse(one.out);
  EXPECT_EQ(answer["pages"], 2);
  EXPECT_TRUE(has_code(answer["codes"], "I10")) << one.out;

  std::ofstream(m_dir / "batch.jsonl") << R"({"id": "a", "pdf": "note.pdf"})" << "\n"
                                       << R"({"id": "b", "text": "acute appendicitis"})" << "\n";
  ProcessResult batch = testing::run_medcode({"--db", db, "predict", "--coder", "index", "--input", (m_dir / "batch.jsonl").string()});
  ASSERT_EQ(batch.exit_code, 0) << batch.err;
  std::istringstream lines(batch.out);
  std::string first;
  std::getline(lines, first);
  EXPECT_EQ(json::parse(first)["id"], "a");
  EXPECT_EQ(json::parse(first)["pages"], 2);

  ProcessResult scan = testing::run_medcode({"--db", db, "predict", "--coder", "index", "--file", (m_dir / "scan.pdf").string()});
  EXPECT_EQ(scan.exit_code, 3);
  EXPECT_NE(scan.err.find("scan.pdf: no text layer"), std::string::npos) << scan.err;
  std::ofstream(m_dir / "bad.jsonl") << R"({"id": "a", "pdf": "note.pdf"})" << "\n"
                                     << R"({"id": "b", "pdf": "scan.pdf"})" << "\n";
  ProcessResult bad = testing::run_medcode({"--db", db, "predict", "--coder", "index", "--input", (m_dir / "bad.jsonl").string()});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.err.find("bad.jsonl:2:"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("scan.pdf"), std::string::npos) << bad.err;
  EXPECT_TRUE(bad.out.empty()) << bad.out;  // nothing half-done on stdout
}

// The web page, loaded from the server by a browser that may fetch nothing else, codes a note given in its
// address and shows each code with its supporting line.
TEST_F(ServeCommand, TheWebPageCodesANoteInHeadlessChromium) {
  constexpr const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  ServerProcess server(m_dir, {"--coder", "index", "--coder", "bm25"});
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) +
                    "/?text=" + httplib::detail::encode_query_param(k_note);
  TempDir browser;
  std::vector<std::string> common = {"timeout", "120", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                     "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                                     "--disable-component-update", "--disable-sync",
                                     "--user-data-dir=" + (browser / "profile").string(),
                                     "--virtual-time-budget=20000"};
  auto run = [&](std::vector<std::string> extra, const fs::path& out) {
    std::string command;
    std::vector<std::string> all = common;
    all.insert(all.end(), extra.begin(), extra.end());
    for (const auto& word : all) command += "'" + word + "' ";
    command += "> '" + out.string() + "' 2> '" + (browser / "chromium.err").string() + "'";
    return std::system(command.c_str());
  };
  ASSERT_EQ(run({"--dump-dom", url}, browser / "dom.html"), 0) << read_text(browser / "chromium.err");
  std::string dom = read_text(browser / "dom.html");
  EXPECT_NE(dom.find("data-state=\"done\""), std::string::npos) << dom.substr(0, 2000);
  EXPECT_NE(dom.find("data-code=\"I10\""), std::string::npos);
  EXPECT_NE(dom.find("data-code=\"E11.9\""), std::string::npos);
  EXPECT_NE(dom.find("<mark>hypertension</mark>"), std::string::npos);
  EXPECT_NE(dom.find("Essential (primary) hypertension"), std::string::npos);

  fs::path png = browser / "page.png";
  ASSERT_EQ(run({"--screenshot=" + png.string(), "--window-size=1280,1000", "--hide-scrollbars", url},
                browser / "shot.out"),
            0)
      << read_text(browser / "chromium.err");
  std::string bytes = read_text(png);
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(bytes.size(), 20000u);  // a blank page compresses to far less
  if (const char* keep = std::getenv("MEDCODE_KEEP_SERVE_SCREENSHOT"))
    fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace medcode
