// Opening libcurl on first use and resolving the functions medcode calls.
#include "medcode/util/libcurl.h"

#include <dlfcn.h>

#include "medcode/util/error.h"

namespace medcode::util::libcurl {

namespace {

constexpr const char* k_library = "libcurl.so.4";

template <typename Function>
void resolve(void* handle, const char* name, Function& function) {
  function = reinterpret_cast<Function>(dlsym(handle, name));
  if (!function) fail(ExitCode::internal, "{}: lacks {}", k_library, name);
}

Api open_libcurl() {
  // RTLD_LOCAL: its TLS and Kerberos libraries stay out of the global scope. Never closed
  // (curl_global_cleanup is not safe while other threads may still use it).
  void* handle = dlopen(k_library, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* reason = dlerror();
    fail(ExitCode::internal, "cannot load {} ({}); install libcurl4", k_library,
         reason ? reason : "not found");
  }
  Api api;
  resolve(handle, "curl_global_init", api.global_init);
  resolve(handle, "curl_easy_init", api.easy_init);
  resolve(handle, "curl_easy_cleanup", api.easy_cleanup);
  resolve(handle, "curl_easy_reset", api.easy_reset);
  resolve(handle, "curl_easy_setopt", api.easy_setopt);
  resolve(handle, "curl_easy_getinfo", api.easy_getinfo);
  resolve(handle, "curl_easy_perform", api.easy_perform);
  resolve(handle, "curl_easy_strerror", api.easy_strerror);
  resolve(handle, "curl_slist_append", api.slist_append);
  resolve(handle, "curl_slist_free_all", api.slist_free_all);
  resolve(handle, "curl_multi_init", api.multi_init);
  resolve(handle, "curl_multi_cleanup", api.multi_cleanup);
  resolve(handle, "curl_multi_setopt", api.multi_setopt);
  resolve(handle, "curl_multi_add_handle", api.multi_add_handle);
  resolve(handle, "curl_multi_remove_handle", api.multi_remove_handle);
  resolve(handle, "curl_multi_perform", api.multi_perform);
  resolve(handle, "curl_multi_poll", api.multi_poll);
  resolve(handle, "curl_multi_info_read", api.multi_info_read);
  if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) fail(ExitCode::internal, "curl_global_init failed");
  return api;
}

}  // namespace

const Api& api() {
  static const Api opened = open_libcurl();
  return opened;
}

}  // namespace medcode::util::libcurl
