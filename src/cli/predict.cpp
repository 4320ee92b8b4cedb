// `medcode predict`: codes with descriptions and scores for clinical text, from a trained model folder.
// One text (--text or --file) prints one JSON object; --input batch.jsonl prints one JSON line per input.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "context.h"
#include "option_groups.h"
#include "medcode/model/stack.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

struct PredictCommandOptions {
  std::string model;
  std::string text;
  std::string file;
  std::string input;
  std::string system = "icd10cm";
  std::optional<int> year;
  std::size_t beam = 1;
  std::size_t max_codes = 8;
  std::size_t batch_size = 16;
  bool unconstrained = false;
  std::string device = "auto";
  int threads = 0;
};

struct InputText {
  nlohmann::json id;  // from the input line, or its line number
  std::string text;
};

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ExitCode::bad_input, "{}: cannot read the file", path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<InputText> read_inputs(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(ExitCode::bad_input, "{}: cannot read the file", path);
  std::vector<InputText> inputs;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.is_object()) fail(ExitCode::bad_input, "{}:{}: not a JSON object", path, number);
    if (!row.contains("text") || !row["text"].is_string())
      fail(ExitCode::bad_input, "{}:{}: field 'text' is missing or not a string", path, number);
    inputs.push_back({row.contains("id") ? row["id"] : nlohmann::json(number), row["text"].get<std::string>()});
  }
  if (inputs.empty()) fail(ExitCode::bad_input, "{}: no input lines", path);
  return inputs;
}

nlohmann::json prediction_json(const model::Prediction& prediction, const model::CodePredictor& predictor) {
  nlohmann::json codes = nlohmann::json::array();
  for (const auto& code : prediction.codes) {
    codes.push_back({{"code", code.code}, {"description", code.description}, {"score", code.score},
                     {"valid", code.valid}});
  }
  return {{"codes", codes},
          {"model", predictor.version()},
          {"release", codes::release_label(predictor.release())},
          {"completion", prediction.completion},
          {"prompt_tokens", prediction.n_prompt_tokens},
          {"generated_tokens", prediction.n_generated_tokens},
          {"truncated", prediction.truncated},
          {"milliseconds", prediction.milliseconds}};
}

ExitCode run_predict(Context& context, const PredictCommandOptions& options) {
  model::ModelStack& stack = model::model_stack();  // first: without the plugin nothing else matters
  int sources = (options.text.empty() ? 0 : 1) + (options.file.empty() ? 0 : 1) + (options.input.empty() ? 0 : 1);
  if (sources != 1) fail(ExitCode::usage, "give exactly one of --text, --file or --input");
  std::vector<InputText> inputs;
  if (!options.text.empty()) inputs.push_back({nullptr, options.text});
  if (!options.file.empty()) inputs.push_back({options.file, read_whole_file(options.file)});
  if (!options.input.empty()) inputs = read_inputs(options.input);

  model::PredictOptions predict_options;
  predict_options.model_dir = options.model;
  predict_options.beam_size = options.beam;
  predict_options.max_codes = options.max_codes;
  predict_options.batch_size = options.batch_size;
  predict_options.constrained = !options.unconstrained;
  predict_options.device = options.device;
  predict_options.threads = options.threads;
  predict_options.system = codes::require_system(options.system);
  predict_options.year = options.year;

  // Predictions need the store's code set: a store that does not exist would only be created empty.
  if (!std::filesystem::exists(context.options().db))
    fail(ExitCode::bad_input, "{}: no such store (import a code set first)", context.options().db);
  store::RunRecorder& run = context.start_run("predict");
  std::unique_ptr<model::CodePredictor> opened = stack.open_predictor(context.store(), predict_options);
  model::CodePredictor& predictor = *opened;
  std::vector<std::string> texts;
  for (const auto& input : inputs) texts.push_back(input.text);
  std::vector<model::Prediction> predictions = predictor.predict(texts);
  run.counters()["inputs"] = inputs.size();
  run.counters()["model"] = predictor.version();
  if (options.input.empty()) {
    std::cout << prediction_json(predictions.front(), predictor).dump(2) << "\n";
    return ExitCode::ok;
  }
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    nlohmann::json line = prediction_json(predictions[i], predictor);
    line["id"] = inputs[i].id;
    std::cout << line.dump() << "\n";
  }
  return ExitCode::ok;
}

}  // namespace

void add_predict_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<PredictCommandOptions>();
  CLI::App* command =
      app.add_subcommand("predict", "Codes with descriptions and scores for clinical text, from a trained model");
  command->add_option("--model", options->model, "A model folder (from train --stage base) or a LoRA folder")
      ->envname("MEDCODE_MODEL")
      ->required();
  command->add_option("--text", options->text, "The clinical text");
  command->add_option("--file", options->file, "A file whose whole content is one note");
  command->add_option("--input", options->input, "JSON Lines of {\"id\": ..., \"text\": ...}; one output line each");
  command->add_option("--system", options->system, "The code system whose release gives valid codes")
      ->check(CLI::IsMember({"icd10cm", "icd10pcs", "hcpcs"}))
      ->capture_default_str();
  command->add_option("--year", options->year, "The release year (default: the newest imported)");
  command->add_option("--beam", options->beam, "Beam width (1: greedy)")->capture_default_str();
  command->add_option("--max-codes", options->max_codes, "Most codes per text")->capture_default_str();
  command->add_option("--batch-size", options->batch_size, "Texts decoded together")->capture_default_str();
  command->add_flag("--unconstrained", options->unconstrained,
                    "Let the model emit any tokens, not only the release's valid codes");
  add_device_options(command, options->device, options->threads);
  commands.push_back({command, [options](Context& context) { return run_predict(context, *options); }});
}

}  // namespace medcode::cli
