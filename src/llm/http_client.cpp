// The curl multi transport: every request is an easy handle on one multi handle, driven by curl_multi_poll
// from the engine's thread; finished easy handles go back to a pool so their connections are reused.
#include "medcode/llm/http_client.h"


#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "medcode/util/libcurl.h"
#include "medcode/version.h"

namespace medcode::llm {

std::string HttpResponse::header(std::string_view lower_case_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) return value;
  }
  return {};
}

namespace {

struct EasyDeleter {
  void operator()(CURL* easy) const { util::libcurl::easy_cleanup(easy); }
};
struct MultiDeleter {
  void operator()(CURLM* multi) const { util::libcurl::multi_cleanup(multi); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const { util::libcurl::slist_free_all(list); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using HeaderList = std::unique_ptr<curl_slist, ListDeleter>;

std::string trim_copy(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

// One request in flight: its handle and everything curl writes into.
struct Transfer {
  RequestId id = 0;
  EasyHandle easy;
  HeaderList headers;
  std::string body;  // the request body; curl reads it in place
  HttpResponse response;
  char error[CURL_ERROR_SIZE] = {};
  std::chrono::steady_clock::time_point started;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<Transfer*>(user)->response.body.append(data, size * count);
  return size * count;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    transfer->response.headers.clear();  // a new response (after 100 Continue or a redirect)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    transfer->response.headers.emplace_back(name, trim_copy(line.substr(colon + 1)));
  }
  return size * count;
}

class CurlTransport : public Transport {
 public:
  CurlTransport() {
    m_multi.reset(util::libcurl::multi_init());
    util::libcurl::multi_setopt(m_multi.get(), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    util::libcurl::multi_setopt(m_multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  }

  ~CurlTransport() override {
    for (auto& [easy, transfer] : m_transfers) util::libcurl::multi_remove_handle(m_multi.get(), easy);
  }

  RequestId submit(HttpRequest request) override {
    auto transfer = std::make_unique<Transfer>();
    transfer->id = ++m_next_id;
    transfer->easy = take_handle();
    transfer->body = std::move(request.body);
    transfer->started = std::chrono::steady_clock::now();
    curl_slist* list = util::libcurl::slist_append(nullptr, "Expect:");
    for (const auto& [name, value] : request.headers)
      list = util::libcurl::slist_append(list, (name + ": " + value).c_str());
    transfer->headers.reset(list);
    CURL* easy = transfer->easy.get();
    util::libcurl::easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    util::libcurl::easy_setopt(easy, CURLOPT_CUSTOMREQUEST,
                     request.method == "POST" ? nullptr : request.method.c_str());
    if (request.method == "POST") {
      util::libcurl::easy_setopt(easy, CURLOPT_POST, 1L);
      util::libcurl::easy_setopt(easy, CURLOPT_POSTFIELDS, transfer->body.data());
      util::libcurl::easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(transfer->body.size()));
    } else {
      util::libcurl::easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    util::libcurl::easy_setopt(easy, CURLOPT_HTTPHEADER, list);
    util::libcurl::easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    util::libcurl::easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     std::min(30000L, static_cast<long>(request.timeout.count())));
    util::libcurl::easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    util::libcurl::easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    util::libcurl::easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    util::libcurl::easy_setopt(easy, CURLOPT_USERAGENT, (std::string("medcode/") + k_version).c_str());
    util::libcurl::easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    util::libcurl::easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
    util::libcurl::easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    util::libcurl::easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
    util::libcurl::easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
    util::libcurl::easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    util::libcurl::multi_add_handle(m_multi.get(), easy);
    RequestId id = transfer->id;
    m_transfers.emplace(easy, std::move(transfer));
    return id;
  }

  std::vector<Completion> poll(std::chrono::milliseconds max_wait) override {
    int running = 0;
    util::libcurl::multi_perform(m_multi.get(), &running);
    std::vector<Completion> done = collect();
    if (done.empty() && max_wait.count() > 0) {
      util::libcurl::multi_poll(m_multi.get(), nullptr, 0, static_cast<int>(max_wait.count()), nullptr);
      util::libcurl::multi_perform(m_multi.get(), &running);
      done = collect();
    }
    return done;
  }

  std::size_t in_flight() const override { return m_transfers.size(); }

 private:
  EasyHandle take_handle() {
    if (m_idle.empty()) return EasyHandle(util::libcurl::easy_init());
    EasyHandle easy = std::move(m_idle.back());
    m_idle.pop_back();
    util::libcurl::easy_reset(easy.get());  // keeps the connection cache, the point of reusing the handle
    return easy;
  }

  std::vector<Completion> collect() {
    std::vector<Completion> done;
    int left = 0;
    while (CURLMsg* message = util::libcurl::multi_info_read(m_multi.get(), &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      CURLcode result = message->data.result;
      auto it = m_transfers.find(easy);
      if (it == m_transfers.end()) continue;
      std::unique_ptr<Transfer> transfer = std::move(it->second);
      m_transfers.erase(it);
      util::libcurl::multi_remove_handle(m_multi.get(), easy);
      HttpResponse& response = transfer->response;
      response.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - transfer->started).count();
      if (result == CURLE_OK) {
        long status = 0;
        util::libcurl::easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        response.status = static_cast<int>(status);
      } else {
        response.status = 0;
        response.timed_out = result == CURLE_OPERATION_TIMEDOUT;
        response.not_sent = result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST ||
                            result == CURLE_COULDNT_RESOLVE_PROXY;
        response.transport_error = transfer->error[0] != '\0' ? transfer->error : util::libcurl::easy_strerror(result);
      }
      done.push_back({transfer->id, std::move(response)});
      m_idle.push_back(std::move(transfer->easy));
    }
    return done;
  }

  std::unique_ptr<CURLM, MultiDeleter> m_multi;
  std::map<CURL*, std::unique_ptr<Transfer>> m_transfers;
  std::vector<EasyHandle> m_idle;
  RequestId m_next_id = 0;
};

}  // namespace

std::unique_ptr<Transport> make_curl_transport() { return std::make_unique<CurlTransport>(); }

}  // namespace medcode::llm
