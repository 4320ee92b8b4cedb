// `medcode model`: pretrained bases from Hugging Face folders (import, list, remove), export of a model with its
// adapter merged in (a Hugging Face folder or GGUF), and inspection of GGUF and safetensors files.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <limits>

#include "context.h"
#include "medcode/model/base_models.h"
#include "medcode/model/gguf.h"
#include "medcode/model/model_export.h"
#include "medcode/model/safetensors_header.h"
#include "medcode/util/files.h"

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

struct ModelExportCommandOptions {
  std::string base;
  std::string adapter;
  std::string format = "gguf";
  std::string out;
  std::string dtype;
  std::string shard_size = "5GB";
  std::string name;
};

std::uint64_t parse_size(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    fail(ExitCode::usage, "--shard-size {}: not a size (e.g. 5GB, 500MB)", text);
  }
  std::string unit = text.substr(used);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 1;
  if (unit == "KB") scale = 1e3;
  else if (unit == "MB") scale = 1e6;
  else if (unit == "GB") scale = 1e9;
  else if (unit == "KIB") scale = 1024.0;
  else if (unit == "MIB") scale = 1024.0 * 1024;
  else if (unit == "GIB") scale = 1024.0 * 1024 * 1024;
  else if (!unit.empty() && unit != "B") fail(ExitCode::usage, "--shard-size {}: unknown unit '{}'", text, unit);
  if (value <= 0) fail(ExitCode::usage, "--shard-size {}: must be positive", text);
  return static_cast<std::uint64_t>(value * scale);
}

std::string human_bytes(std::uint64_t bytes) {
  if (bytes >= 1'000'000'000) return fmt::format("{:.2f} GB", static_cast<double>(bytes) / 1e9);
  if (bytes >= 1'000'000) return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
  if (bytes >= 1'000) return fmt::format("{:.1f} kB", static_cast<double>(bytes) / 1e3);
  return fmt::format("{} B", bytes);
}

ExitCode run_export(Context& context, const ModelExportCommandOptions& options) {
  model::ExportOptions export_options;
  if (!options.base.empty()) export_options.base = model::resolve_base(context.store(), options.base);
  if (!options.adapter.empty()) export_options.adapter = options.adapter;
  export_options.format = options.format;
  export_options.out = options.out;
  export_options.dtype = options.dtype;
  export_options.shard_size = parse_size(options.shard_size);
  export_options.name = options.name;
  const std::int64_t run_id = context.start_run("model export").id();
  model::ExportSummary summary = model::export_model(export_options);
  model::record_export(context.store(), summary, run_id);
  if (store::RunRecorder* run = context.run()) {
    run->counters()["format"] = summary.format;
    run->counters()["dtype"] = summary.dtype;
    run->counters()["tensors"] = summary.tensors;
    run->counters()["files"] = static_cast<std::int64_t>(summary.files.size());
  }
  if (context.json()) {
    std::cout << model::to_json(summary).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return ExitCode::ok;
  }
  std::cout << fmt::format("exported {} ({}, {}{}) as {} {} in {:.1f} s: {} tensors, {:.1f} M parameters\n",
                           summary.base.string(), summary.architecture, summary.dtype,
                           summary.adapter ? ", adapter " + summary.adapter->string() + " merged" : "",
                           summary.format, summary.tokenizer.empty() ? "" : "(tokenizer " + summary.tokenizer + ")",
                           summary.seconds, summary.tensors, static_cast<double>(summary.parameters) / 1e6);
  for (const auto& note : summary.notes) std::cout << "  note: " << note << "\n";
  for (const auto& file : summary.files) {
    std::cout << fmt::format("  {:<48} {:>10}  sha256 {}\n", file.path.string(), human_bytes(file.bytes), file.sha256);
  }
  return ExitCode::ok;
}

ExitCode run_inspect(Context& context, const std::string& file, bool all) {
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(file)) fail(ExitCode::bad_input, "{}: no such file", file);
  std::string magic;
  {
    std::ifstream in(file, std::ios::binary);
    char head[4] = {};
    in.read(head, 4);
    magic.assign(head, static_cast<std::size_t>(in.gcount()));
  }
  nlohmann::json out;
  if (magic == "GGUF") {
    model::GgufFile gguf = model::read_gguf(file);
    out["format"] = "gguf";
    out["version"] = gguf.version;
    out["alignment"] = gguf.alignment;
    out["metadata"] = model::gguf_metadata_json(gguf, all ? std::numeric_limits<std::size_t>::max() : 8);
    out["tensors"] = nlohmann::json::array();
    for (const auto& tensor : gguf.tensors) {
      out["tensors"].push_back({{"name", tensor.name}, {"type", model::ggml_type_name(tensor.type)},
                                {"shape", tensor.shape}, {"offset", tensor.offset}, {"bytes", tensor.bytes}});
    }
  } else {
    model::SafetensorsHeader header = model::read_safetensors_header(file);
    out["format"] = "safetensors";
    out["metadata"] = header.metadata;
    out["tensors"] = nlohmann::json::array();
    for (const auto& tensor : header.tensors) {
      out["tensors"].push_back({{"name", tensor.name}, {"type", tensor.dtype}, {"shape", tensor.shape},
                                {"offset", header.data_offset + tensor.begin}, {"bytes", tensor.end - tensor.begin}});
    }
  }
  out["file"] = file;
  out["bytes"] = fs::file_size(file);
  if (context.json()) {
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return ExitCode::ok;
  }
  std::cout << fmt::format("{}: {}{}, {}, {} tensors\n", file, out["format"].get<std::string>(),
                           out.contains("version") ? fmt::format(" v{}", out["version"].get<int>()) : "",
                           human_bytes(out["bytes"].get<std::uint64_t>()), out["tensors"].size());
  for (const auto& [key, value] : out["metadata"].items()) {
    std::string text = value.is_string() ? value.get<std::string>() : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!all && text.size() > 160) text = text.substr(0, 157) + "...";
    for (auto& c : text)
      if (c == '\n') c = ' ';
    std::cout << fmt::format("  {:<44} {}\n", key, text);
  }
  std::size_t shown = 0;
  for (const auto& tensor : out["tensors"]) {
    if (!all && shown++ == 40) {
      std::cout << fmt::format("  ... {} more tensors (--all lists them)\n", out["tensors"].size() - 40);
      break;
    }
    std::cout << fmt::format("  {:<40} {:<6} [{}] {}\n", tensor["name"].get<std::string>(),
                             tensor["type"].get<std::string>(),
                             fmt::join(tensor["shape"].get<std::vector<std::int64_t>>(), ", "),
                             human_bytes(tensor["bytes"].get<std::uint64_t>()));
  }
  return ExitCode::ok;
}

}  // namespace

void add_model_command(CLI::App& app, CommandList& commands) {
  CLI::App* model_app = app.add_subcommand("model", "Pretrained bases, exports (Hugging Face folders, GGUF) and inspection of model files");
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

  auto export_options = std::make_shared<ModelExportCommandOptions>();
  CLI::App* export_app = model_app->add_subcommand(
      "export", "Write a model (with a LoRA adapter merged in) as a Hugging Face folder or a GGUF file");
  export_app->add_option("--base", export_options->base,
                         "The model: a folder `train` wrote, a Hugging Face folder, or an imported base's name");
  export_app->add_option("--adapter", export_options->adapter, "A LoRA folder to merge into the base");
  export_app->add_option("--format", export_options->format, "gguf (llama.cpp, LM Studio, Ollama) or hf")
      ->check(CLI::IsMember({"gguf", "hf"}))
      ->capture_default_str();
  export_app->add_option("--out", export_options->out, "gguf: the .gguf file (a Modelfile is written beside it); hf: the folder")
      ->required();
  export_app->add_option("--dtype", export_options->dtype,
                         "f32, f16, bf16, q8_0 or q4_k (gguf; default f16); f32, f16 or bf16 (hf; default the base's)");
  export_app->add_option("--shard-size", export_options->shard_size, "hf: split the weights above this size")
      ->capture_default_str();
  export_app->add_option("--name", export_options->name, "The model's name in the file (default: the output's)");
  commands.push_back({export_app, [export_options](Context& context) { return run_export(context, *export_options); }});

  auto inspect_file = std::make_shared<std::string>();
  auto inspect_all = std::make_shared<bool>(false);
  CLI::App* inspect = model_app->add_subcommand("inspect", "List the metadata and tensors of a GGUF or safetensors file");
  inspect->add_option("file", *inspect_file, "The .gguf or .safetensors file")->required();
  inspect->add_flag("--all", *inspect_all, "Every tensor, and metadata arrays in full");
  commands.push_back({inspect, [inspect_file, inspect_all](Context& context) {
                        return run_inspect(context, *inspect_file, *inspect_all);
                      }});
}

}  // namespace medcode::cli
