// Names of exit-code categories, used in logs and the runs table.
#include "medcode/util/error.h"

#include <cerrno>

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
    case ExitCode::storage: return "storage";
  }
  return "unknown";
}

// A file system that refuses is a storage error; a file that is not there is the input's fault.
ExitCode exit_code_of_errno(int error) {
  switch (error) {
    case EROFS:
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case EIO:
    case EACCES:
    case EPERM:
    case EISDIR:
    case ETXTBSY:
    case ENOTDIR:
    case EEXIST:
    case ENAMETOOLONG:
    case ELOOP:
      return ExitCode::storage;
    case ENOENT:
      return ExitCode::bad_input;
    default:
      return ExitCode::internal;
  }
}

}  // namespace medcode
