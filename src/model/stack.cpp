// The model plugin's loader: finds libmedcode_torch.so where every plugin is looked for, checks that it was
// built for this medcode, and hands out its stack. Also the summaries' JSON, which the core side prints.
#include "medcode/model/stack.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string_view>

#include "medcode/model/threads.h"
#include "medcode/util/error.h"
#include "medcode/util/plugin.h"
#include "medcode/version.h"

namespace medcode::model {

namespace {

ModelStack& open_model_stack() {
  // libgomp reads its wait policy once, when the plugin brings it in: idle workers must be asked to sleep
  // now, or spinning threads make two threads many times slower than one on a busy machine.
  prefer_passive_waiting();
  std::vector<std::string> tried;
  // RTLD_LOCAL: LibTorch and everything it brings (OpenCV, dnnl, protobuf) stay out of the global scope, so
  // nothing else the process opens later binds to them by accident.
  std::optional<util::OpenedPlugin> plugin =
      util::open_plugin(util::plugin_candidates(k_model_plugin_file), RTLD_NOW | RTLD_LOCAL, tried);
  if (!plugin) {
    fail(ExitCode::usage,
         "this command needs the model plugin {}, which was not found (a build with MEDCODE_WITH_TORCH=OFF "
         "has "
         "none; put it beside the medcode binary or name its folder in {}). Searched: {}",
         k_model_plugin_file, util::k_plugin_dir_env, fmt::join(tried, "; "));
  }
  auto abi = reinterpret_cast<decltype(&medcode_model_stack_abi)>(
      util::plugin_symbol(*plugin, "medcode_model_stack_abi"));
  auto version = reinterpret_cast<decltype(&medcode_model_stack_version)>(
      util::plugin_symbol(*plugin, "medcode_model_stack_version"));
  auto stack =
      reinterpret_cast<decltype(&medcode_model_stack)>(util::plugin_symbol(*plugin, "medcode_model_stack"));
  if (!abi || !version || !stack)
    fail(ExitCode::usage, "{}: not a medcode model plugin (its entry points are missing)",
         plugin->path.string());
  // The interface passes C++ objects, so the plugin must come from the same medcode build, not only the
  // same interface version.
  if (abi() != k_model_stack_abi || std::string_view(version()) != k_version) {
    fail(ExitCode::usage,
         "{}: model plugin of medcode {} (interface {}), but this is medcode {} (interface {})",
         plugin->path.string(), version(), abi(), k_version, k_model_stack_abi);
  }
  spdlog::debug("model plugin {}", plugin->path.string());
  return *stack();
}

}  // namespace

ModelStack& model_stack() {
  static ModelStack& stack = open_model_stack();
  return stack;
}

nlohmann::json to_json(const TrainSummary& summary) {
  nlohmann::json json = {{"out", summary.out_dir.string()},
                         {"device", summary.device},
                         {"steps", summary.steps},
                         {"resumed_from_step", summary.resumed_from_step},
                         {"parameters", summary.parameters},
                         {"trainable_parameters", summary.trainable_parameters},
                         {"train_examples", summary.train_examples},
                         {"val_examples", summary.val_examples},
                         {"tokens", summary.tokens},
                         {"seconds", summary.seconds},
                         {"step_seconds", summary.step_seconds},
                         {"tokens_per_second", summary.tokens_per_second},
                         {"final_train_loss", summary.final_train_loss},
                         {"peak_memory_bytes", summary.peak_memory_bytes}};
  json["final_val_loss"] =
      summary.final_val_loss ? nlohmann::json(*summary.final_val_loss) : nlohmann::json();
  json["best_val_loss"] = summary.best_val_loss ? nlohmann::json(*summary.best_val_loss) : nlohmann::json();
  if (summary.reward_accuracy) json["reward_accuracy"] = *summary.reward_accuracy;
  if (summary.val_reward_accuracy) json["val_reward_accuracy"] = *summary.val_reward_accuracy;
  if (summary.skipped_pairs) json["skipped_pairs"] = summary.skipped_pairs;
  return json;
}

}  // namespace medcode::model
