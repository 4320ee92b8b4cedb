// How a run of engine work ends, one rule for `generate`, `score` and `run`: a model whose provider failed (a
// non-retryable error, or requests that failed after every retry) makes the run a network failure (exit 4);
// otherwise a spent --max-cost budget makes it a policy stop (exit 6). Items that only got invalid answers
// are a warning: the next run sends them again; where the caller says so (`generate`), a model none of whose
// items got a valid answer makes it bad input (exit 3) instead, so that cron sees a run that made nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "medcode/llm/engine.h"
#include "medcode/util/error.h"

namespace medcode::llm {

struct EngineVerdict {
  ExitCode code = ExitCode::ok;
  std::vector<std::string> errors;    // what stopped the run, and what to do about it
  std::vector<std::string> warnings;  // what the next run will retry
};

// `unit` names the work items in the messages ("items", "entries").
EngineVerdict judge_engine_result(const EngineResult& result, std::string_view unit = "items",
                                  bool nothing_valid_fails = false);

}  // namespace medcode::llm
