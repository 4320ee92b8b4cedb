// `medcode model`: pretrained bases from Hugging Face folders: import (check and record), list, remove.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "context.h"
#include "medcode/model/base_models.h"

namespace medcode::cli {

namespace {

struct ModelImportCommandOptions {
  std::string dir;
  std::string name;
  std::string prompt_format = "auto";
};

std::string gigabytes(std::uint64_t bytes) { return fmt::format("{:.2f} GB", static_cast<double>(bytes) / 1e9); }

void print_base(const model::BaseModel& base) {
  std::cout << fmt::format(
      "base '{}' {}: {} from {}\n  {:.1f} M parameters, {} layers, hidden {}, {}/{} heads, {} weights ({})\n"
      "  tokenizer {} ({} tokens, embedding {}), chat format {}\n",
      base.name, base.replaced ? "replaced" : "imported", base.architecture, base.dir.string(),
      static_cast<double>(base.parameters) / 1e6, base.layers, base.hidden_size, base.heads, base.kv_heads,
      base.dtype, gigabytes(base.weight_bytes), base.tokenizer, base.tokenizer_vocab_size, base.vocab_size,
      base.chat_format);
}

ExitCode run_import(Context& context, const ModelImportCommandOptions& options) {
  model::BaseModelImportOptions import;
  import.dir = options.dir;
  import.name = options.name;
  import.prompt_format = options.prompt_format;
  import.run_id = context.start_run("model import").id();
  model::BaseModel base = model::import_base_model(context.store(), import);
  if (store::RunRecorder* run = context.run()) {
    run->counters()["base"] = base.name;
    run->counters()["parameters"] = base.parameters;
  }
  if (context.json()) {
    std::cout << model::to_json(base).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    print_base(base);
  }
  return ExitCode::ok;
}

ExitCode run_list(Context& context) {
  std::vector<model::BaseModel> bases = model::list_base_models(context.store());
  if (context.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& base : bases) out.push_back(model::to_json(base));
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return ExitCode::ok;
  }
  if (bases.empty()) {
    spdlog::info("no bases imported yet; run `medcode model import DIR` on a Hugging Face model folder");
    return ExitCode::ok;
  }
  constexpr const char* k_row = "{:<28} {:<18} {:>10} {:<6} {:<11}  {}\n";
  std::cout << fmt::format(k_row, "name", "architecture", "parameters", "dtype", "chat", "path");
  for (const auto& base : bases) {
    std::cout << fmt::format(k_row, base.name, base.architecture,
                             fmt::format("{:.1f} M", static_cast<double>(base.parameters) / 1e6), base.dtype,
                             base.chat_format, base.dir.string());
  }
  return ExitCode::ok;
}

ExitCode run_remove(Context& context, const std::string& name) {
  if (!model::remove_base_model(context.store(), name)) {
    fail(ExitCode::usage, "no base named '{}' (see `medcode model list`)", name);
  }
  std::cout << fmt::format("base '{}' removed from the store (its folder is untouched)\n", name);
  return ExitCode::ok;
}

}  // namespace

void add_model_command(CLI::App& app, CommandList& commands) {
  CLI::App* model_app = app.add_subcommand("model", "Pretrained bases from Hugging Face model folders");
  model_app->require_subcommand(1);

  auto options = std::make_shared<ModelImportCommandOptions>();
  CLI::App* import = model_app->add_subcommand(
      "import", "Check a Hugging Face model folder (Llama, Qwen2, Mistral) and record it as a base");
  import->add_option("dir", options->dir, "The folder: config.json, model.safetensors (or shards), tokenizer")
      ->required();
  import->add_option("--name", options->name, "Name of the base (default: the folder's name)");
  import
      ->add_option("--prompt-format", options->prompt_format,
                   "Chat format of prompts: the folder's template (auto), or one of these")
      ->check(CLI::IsMember({"auto", "plain", "chatml", "qwen3", "llama3", "deepseek-r1"}))
      ->capture_default_str();
  commands.push_back({import, [options](Context& context) { return run_import(context, *options); }});

  CLI::App* list = model_app->add_subcommand("list", "List the imported bases");
  commands.push_back({list, [](Context& context) { return run_list(context); }});

  auto name = std::make_shared<std::string>();
  CLI::App* remove = model_app->add_subcommand("remove", "Forget an imported base (its folder stays)");
  remove->add_option("name", *name, "The base's name")->required();
  commands.push_back({remove, [name](Context& context) { return run_remove(context, *name); }});
}

}  // namespace medcode::cli
