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

// What was spent against what cap, and what the stop left: "spending cap reached: spent $0.0198 of $0.0200
// (next request ~$0.0021); 12 items left — raise --max-cost or run again to resume".
std::string budget_message(const EngineResult& result, std::string_view unit) {
  std::string left = fmt::format("{} {} left", result.items_left, unit);
  double spent = result.cost_usd + result.lost_usd;
  if (spent <= 0 && result.max_cost_usd)
    return fmt::format(
        "spending cap reached before anything was sent: the first request would cost about ${:.4f}, over the "
        "cap of ${:.4f}; {} — raise --max-cost",
        result.next_request_usd, *result.max_cost_usd, left);
  std::string text = fmt::format("spending cap reached: spent ${:.4f}", result.cost_usd);
  if (result.max_cost_usd) text += fmt::format(" of ${:.4f}", *result.max_cost_usd);
  if (result.lost_usd > 0)
    text += fmt::format(
        ", with ${:.4f} more counted for answers lost to timeouts or cut bodies (a provider may bill them)",
        result.lost_usd);
  if (result.max_cost_usd && spent > *result.max_cost_usd + 1e-9)
    text += fmt::format(", ${:.4f} over the cap (an answer was longer than its estimate)",
                        spent - *result.max_cost_usd);
  return text + fmt::format(" (next request ~${:.4f}); {} — raise --max-cost or run again to resume",
                            result.next_request_usd, left);
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
    verdict.errors.push_back(budget_message(result, unit));
    verdict.code = ExitCode::policy;
  }
  return verdict;
}

}  // namespace medcode::llm
