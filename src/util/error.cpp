// Names of exit-code categories, used in logs and the runs table.
#include "medcode/util/error.h"

namespace medcode {

const char* exit_code_name(ExitCode code) {
  switch (code) {
    case ExitCode::ok: return "ok";
    case ExitCode::internal: return "internal";
    case ExitCode::usage: return "usage";
    case ExitCode::bad_input: return "bad_input";
    case ExitCode::network: return "network";
    case ExitCode::integrity: return "integrity";
    case ExitCode::policy: return "policy";
  }
  return "unknown";
}

}  // namespace medcode
