// The verdict on a finished engine run: its exit code and the messages that explain it.
#include "medcode/llm/engine_outcome.h"

#include <fmt/format.h>

namespace medcode::llm {

EngineVerdict judge_engine_result(const EngineResult& result, std::string_view unit) {
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
                      model.model, model.requests_failed, model.last_error.value_or("?")));
      verdict.code = ExitCode::network;
    } else if (model.items_failed > 0) {
      verdict.warnings.push_back(
          fmt::format("{}: {} {} got no valid answer (last error: {}); they are sent again on the next run",
                      model.model, model.items_failed, unit, model.last_error.value_or("?")));
    }
  }
  if (verdict.code == ExitCode::ok && result.budget_exhausted) {
    verdict.errors.push_back(fmt::format(
        "stopped at the --max-cost cap: ${:.4f} spent, {} {} left; run again with a higher cap to finish",
        result.cost_usd, result.items_left, unit));
    verdict.code = ExitCode::policy;
  }
  return verdict;
}

}  // namespace medcode::llm
