// The verdict on a finished engine run: its exit code and the messages that explain it.
#include "medcode/llm/engine_outcome.h"

#include <fmt/format.h>

namespace medcode::llm {

namespace {

// The latest error, without the full stop that the sentence around it adds.
std::string last_error_of(const ModelProgress& model, std::string_view otherwise) {
  std::string error = model.last_error.value_or(std::string(otherwise));
  while (!error.empty() && (error.back() == '.' || error.back() == ' ')) error.pop_back();
  return error;
}

}  // namespace

EngineVerdict judge_engine_result(const EngineResult& result, std::string_view unit,
                                  bool nothing_valid_fails) {
  EngineVerdict verdict;
  for (const ModelProgress& model : result.models) {
    if (model.fatal_error) {
      // The error names the model and its provider already.
      verdict.errors.push_back(
          fmt::format("{}; its work stopped (fix the configuration or key and run the same command again)",
                      *model.fatal_error));
      verdict.code = ExitCode::network;
    } else if (model.requests_failed > 0) {
      verdict.errors.push_back(
          fmt::format("{}: {} requests failed after every retry; last error: {}. Run the same command again "
                      "to retry them",
                      model.model, model.requests_failed, last_error_of(model, "no answer")));
      verdict.code = ExitCode::network;
    } else if (nothing_valid_fails && model.items_failed > 0 && model.items_done == 0) {
      // Nothing usable at all: an exit 0 would tell cron all was well.
      verdict.errors.push_back(fmt::format(
          "{}: no valid answer for any of its {} {} (last error: {}); they are sent again on the next run",
          model.model, model.items_failed, unit, last_error_of(model, "the answers left them out")));
      if (verdict.code == ExitCode::ok) verdict.code = ExitCode::bad_input;
    } else if (model.items_failed > 0) {
      verdict.warnings.push_back(fmt::format(
          "{}: {} {} got no valid answer (last error: {}); they are sent again on the next run", model.model,
          model.items_failed, unit, last_error_of(model, "the answers left them out")));
    }
  }
  if (verdict.code == ExitCode::ok && result.budget_exhausted) {
    std::string lost =
        result.lost_usd > 0
            ? fmt::format(" and ${:.4f} counted for answers lost to timeouts or cut bodies (a provider may bill them)",
                          result.lost_usd)
            : "";
    verdict.errors.push_back(fmt::format(
        "stopped at the --max-cost cap: ${:.4f} spent{}, and the next request could cost up to ${:.4f}; {} {} "
        "left; run again with a higher cap to finish",
        result.cost_usd, lost, result.next_request_usd, result.items_left, unit));
    verdict.code = ExitCode::policy;
  }
  return verdict;
}

}  // namespace medcode::llm
