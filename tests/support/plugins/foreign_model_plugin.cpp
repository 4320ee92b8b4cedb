// A model plugin built for another medcode: it has the entry points but another interface and version, so the
// binary must refuse it before calling into it.
extern "C" {

__attribute__((visibility("default"))) int medcode_model_stack_abi(void) { return 999; }
__attribute__((visibility("default"))) const char* medcode_model_stack_version(void) {
  return "0.0.0-foreign";
}
__attribute__((visibility("default"))) void* medcode_model_stack(void) { return nullptr; }
}
