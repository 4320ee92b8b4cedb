// libcurl, opened on first use. The binary does not link it: libcurl brings some thirty libraries (TLS,
// Kerberos, LDAP, SSH, IDN, HTTP/2) whose loading and initialisation would otherwise cost every command at
// start-up, while only `fetch` and the LLM providers talk HTTP. The functions mirror libcurl's of the same
// name.
#pragma once

#include <curl/curl.h>

namespace medcode::util::libcurl {

// libcurl's entry points, resolved once; Error(internal) naming libcurl.so.4 when it cannot be loaded.
struct Api {
  decltype(&::curl_global_init) global_init = nullptr;
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_reset) easy_reset = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_perform) easy_perform = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;
  decltype(&::curl_multi_init) multi_init = nullptr;
  decltype(&::curl_multi_cleanup) multi_cleanup = nullptr;
  decltype(&::curl_multi_setopt) multi_setopt = nullptr;
  decltype(&::curl_multi_add_handle) multi_add_handle = nullptr;
  decltype(&::curl_multi_remove_handle) multi_remove_handle = nullptr;
  decltype(&::curl_multi_perform) multi_perform = nullptr;
  decltype(&::curl_multi_poll) multi_poll = nullptr;
  decltype(&::curl_multi_info_read) multi_info_read = nullptr;
};
// Opens libcurl and runs curl_global_init once per process.
const Api& api();

inline CURL* easy_init() { return api().easy_init(); }
inline void easy_cleanup(CURL* easy) { api().easy_cleanup(easy); }
inline void easy_reset(CURL* easy) { api().easy_reset(easy); }
template <typename Value>
CURLcode easy_setopt(CURL* easy, CURLoption option, Value value) {
  return api().easy_setopt(easy, option, value);
}
template <typename Out>
CURLcode easy_getinfo(CURL* easy, CURLINFO info, Out out) {
  return api().easy_getinfo(easy, info, out);
}
inline CURLcode easy_perform(CURL* easy) { return api().easy_perform(easy); }
inline const char* easy_strerror(CURLcode code) { return api().easy_strerror(code); }
inline curl_slist* slist_append(curl_slist* list, const char* text) { return api().slist_append(list, text); }
inline void slist_free_all(curl_slist* list) { api().slist_free_all(list); }
inline CURLM* multi_init() { return api().multi_init(); }
inline CURLMcode multi_cleanup(CURLM* multi) { return api().multi_cleanup(multi); }
template <typename Value>
CURLMcode multi_setopt(CURLM* multi, CURLMoption option, Value value) {
  return api().multi_setopt(multi, option, value);
}
inline CURLMcode multi_add_handle(CURLM* multi, CURL* easy) { return api().multi_add_handle(multi, easy); }
inline CURLMcode multi_remove_handle(CURLM* multi, CURL* easy) {
  return api().multi_remove_handle(multi, easy);
}
inline CURLMcode multi_perform(CURLM* multi, int* running) { return api().multi_perform(multi, running); }
inline CURLMcode multi_poll(CURLM* multi, curl_waitfd* fds, unsigned n_fds, int timeout_ms, int* n_ready) {
  return api().multi_poll(multi, fds, n_fds, timeout_ms, n_ready);
}
inline CURLMsg* multi_info_read(CURLM* multi, int* left) { return api().multi_info_read(multi, left); }

}  // namespace medcode::util::libcurl
