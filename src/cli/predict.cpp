// `medcode predict`: codes with descriptions and scores for clinical text, from a trained model folder
// (--model) or any coder by name (--coder index, index+rerank:PATH, bm25 ...); document coders add the words
// that justify each code. One text (--text or --file) prints one JSON object; --input batch.jsonl prints one
// JSON line per input; --output FILE puts them in a file instead.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "context.h"
#include "medcode/codes/catalog.h"
#include "medcode/eval/llm_coder.h"
#include "medcode/eval/make_coder.h"
#include "medcode/model/base_models.h"
#include "medcode/model/stack.h"
#include "medcode/pdf/pdf_text.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/utf8.h"
#include "option_groups.h"

namespace medcode::cli {

namespace {

struct PredictCommandOptions {
  std::string model;
  std::string base;     // a pretrained base (a name from `model import`, or a folder)
  std::string adapter;  // a LoRA folder
  std::string prompt_format = "auto";
  std::string coder;
  std::optional<double> min_score;
  std::size_t ranked = 0;
  std::string text;
  std::string file;
  std::string input;
  std::string system = "icd10cm";
  std::optional<int> year;
  std::size_t beam = 1;
  double temperature = 0;  // 0: greedy
  double top_p = 1;
  std::uint64_t seed = 42;
  std::string output;                    // empty: stdout
  std::optional<std::size_t> max_codes;  // model: 8; a coder: as many as it assigns
  std::size_t batch_size = 16;
  bool unconstrained = false;
  bool raw = false;
  std::size_t max_new_tokens = 64;
  std::string device = "auto";
  int threads = 0;
  std::size_t shortlist = 40;          // llm:MODEL
  std::optional<double> max_cost_usd;  // llm:MODEL
  bool use_cache = true;               // llm:MODEL
};

// Where the predictions go: stdout, or the --output file. The file's temporary name is created before the
// work, so that a path that cannot be written stops the command before a model loads; it is removed when
// the command fails, and renamed into place only once every prediction is in it.
class PredictionOutput {
 public:
  explicit PredictionOutput(const std::string& path) : m_path(path) {
    if (!path.empty()) m_file = std::make_unique<util::AtomicFile>(path);
  }
  void finish(const std::string& text, std::size_t predictions) {
    if (!m_file) {
      std::cout << text;
      return;
    }
    m_file->write(text);
    m_file->commit();
    spdlog::info("{} prediction{} written to {}", predictions, predictions == 1 ? "" : "s", m_path);
  }

 private:
  std::string m_path;
  std::unique_ptr<util::AtomicFile> m_file;
};

// The text stdout gets: one JSON object for one text, or a JSON line per --input line with its id.
std::string predictions_text(std::vector<nlohmann::json>& answers, const std::vector<nlohmann::json>& ids,
                             bool batch) {
  if (!batch) return answers.front().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::string text;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    answers[i]["id"] = ids[i];
    text += answers[i].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return text;
}

struct InputText {
  nlohmann::json id;  // from the input line, or its line number
  std::string text;
  std::size_t pages = 0;  // a PDF's page count; 0 for text
};

bool is_pdf_name(const std::string& path) {
  std::string extension = std::filesystem::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return std::tolower(c); });
  return extension == ".pdf";
}

// A note from a file: a PDF (by its header, or by its name, so that a broken PDF is reported as one) has its
// pages' text joined; any other file is its text.
InputText read_note_file(const std::string& path, nlohmann::json id) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ExitCode::bad_input, "{}: cannot read the file", path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (pdf::looks_like_pdf(text) || is_pdf_name(path)) {
    pdf::PdfText document = pdf::extract_pdf_text(text, path);
    return {std::move(id), document.joined(), document.pages.size()};
  }
  // Text that is not UTF-8 is coded as best it can be, with its bad bytes replaced and said so.
  if (std::size_t replaced = util::replace_invalid_utf8(text); replaced > 0) {
    spdlog::warn("{}: {} invalid UTF-8 sequences replaced with U+FFFD", path, replaced);
  }
  return {std::move(id), std::move(text), 0};
}

std::vector<InputText> read_inputs(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(ExitCode::bad_input, "{}: cannot read the file", path);
  std::vector<InputText> inputs;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.is_object())
      fail(ExitCode::bad_input, "{}:{}: not a JSON object", path, number);
    nlohmann::json id = row.contains("id") ? row["id"] : nlohmann::json(number);
    if (row.contains("pdf")) {
      // A PDF named by the line, relative to the input file's folder, so that a batch moves with its notes.
      if (row.contains("text")) fail(ExitCode::bad_input, "{}:{}: give 'text' or 'pdf', not both", path, number);
      if (!row["pdf"].is_string() || row["pdf"].get<std::string>().empty())
        fail(ExitCode::bad_input, "{}:{}: field 'pdf' must be a file name", path, number);
      std::filesystem::path pdf_path = row["pdf"].get<std::string>();
      if (pdf_path.is_relative()) pdf_path = std::filesystem::path(path).parent_path() / pdf_path;
      try {
        InputText input = read_note_file(pdf_path.string(), id);
        if (input.pages == 0) fail(ExitCode::bad_input, "{}: not a PDF", pdf_path.string());
        inputs.push_back(std::move(input));
      } catch (const Error& error) {
        fail(error.code(), "{}:{}: {}", path, number, error.what());
      }
      continue;
    }
    if (!row.contains("text") || !row["text"].is_string())
      fail(ExitCode::bad_input, "{}:{}: field 'text' (or 'pdf') is missing or not a string", path, number);
    inputs.push_back({std::move(id), row["text"].get<std::string>(), 0});
  }
  if (inputs.empty()) fail(ExitCode::bad_input, "{}: no input lines", path);
  return inputs;
}

nlohmann::json prediction_json(const model::Prediction& prediction, const model::CodePredictor& predictor,
                               bool raw) {
  if (raw) {
    return {{"model", predictor.version()},
            {"completion", prediction.completion},
            {"prompt_ids", prediction.prompt_ids},
            {"generated_ids", prediction.generated_ids},
            {"prompt_tokens", prediction.n_prompt_tokens},
            {"generated_tokens", prediction.n_generated_tokens},
            {"truncated", prediction.truncated},
            {"milliseconds", prediction.milliseconds}};
  }
  nlohmann::json codes = nlohmann::json::array();
  for (const auto& code : prediction.codes) {
    codes.push_back({{"code", code.code},
                     {"description", code.description},
                     {"score", code.score},
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

std::vector<InputText> read_all_inputs(const PredictCommandOptions& options) {
  int sources =
      (options.text.empty() ? 0 : 1) + (options.file.empty() ? 0 : 1) + (options.input.empty() ? 0 : 1);
  if (sources != 1) fail(ExitCode::usage, "give exactly one of --text, --file or --input");
  std::vector<InputText> inputs;
  if (!options.text.empty()) inputs.push_back({nullptr, options.text, 0});
  if (!options.file.empty()) inputs.push_back(read_note_file(options.file, options.file));
  if (!options.input.empty()) inputs = read_inputs(options.input);
  return inputs;
}

void require_store(Context& context) {
  // Predictions need the store's code set: a store that does not exist would only be created empty.
  if (!std::filesystem::exists(context.options().db))
    fail(ExitCode::bad_input, "{}: no such store (import a code set first)", context.options().db);
}

// A coder's prediction: the assigned codes (with descriptions and their evidence), then with --ranked N the
// next codes of its ranking that it did not assign. Codes the release lacks are dropped and counted, as the
// server does.
nlohmann::json coder_prediction_json(const eval::Prediction& prediction, codes::Catalog& catalog,
                                     std::size_t ranked, double milliseconds) {
  auto code_json = [&](const eval::RankedCode& code, const codes::CodeRecord& record) {
    nlohmann::json evidence = nlohmann::json::array();
    for (const auto& span : code.evidence)
      evidence.push_back({{"begin", span.begin}, {"end", span.end}, {"text", span.text}});
    nlohmann::json out = {
        {"code", code.code}, {"description", record.description}, {"score", code.score}, {"valid", true}};
    if (!code.evidence.empty()) out["evidence"] = evidence;
    return out;
  };
  nlohmann::json assigned = nlohmann::json::array();
  nlohmann::json others = nlohmann::json::array();
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < prediction.ranked.size(); ++i) {
    bool is_assigned = i < prediction.n_predicted;
    if (!is_assigned && others.size() >= ranked) continue;
    auto record = catalog.find(prediction.ranked[i].code);
    if (!record) {
      ++dropped;
      continue;
    }
    (is_assigned ? assigned : others).push_back(code_json(prediction.ranked[i], *record));
  }
  nlohmann::json out = {{"codes", assigned}, {"dropped_invalid", dropped}, {"milliseconds", milliseconds}};
  if (ranked > 0) out["ranked"] = others;
  return out;
}

ExitCode run_coder_predict(Context& context, const PredictCommandOptions& options) {
  std::vector<InputText> inputs = read_all_inputs(options);
  require_store(context);
  codes::System system = codes::require_system(options.system);
  const bool model_coder = options.coder.rfind(eval::k_model_coder_prefix, 0) == 0;
  if (!model_coder && (options.temperature != 0 || options.top_p != 1))
    fail(ExitCode::usage,
         "--temperature and --top-p sample a model's tokens: give --model or --coder model:DIR");
  store::Database& db = context.store();
  codes::ReleaseInfo release = codes::find_release(db, system, options.year);
  eval::CoderOptions coder_options;
  coder_options.min_score = options.min_score;
  coder_options.top_k = options.max_codes.value_or(0);
  coder_options.threads = options.threads;
  coder_options.model.beam_size = options.beam;
  coder_options.model.temperature = options.temperature;
  coder_options.model.top_p = options.top_p;
  coder_options.model.seed = options.seed;
  coder_options.model.max_codes = options.max_codes.value_or(8);
  coder_options.model.batch_size = options.batch_size;
  coder_options.model.constrained = !options.unconstrained;
  coder_options.model.device = options.device;
  coder_options.model.threads = options.threads;
  coder_options.model.prompt_format = options.prompt_format;
  if (!options.base.empty()) coder_options.model.base = model::resolve_base(db, options.base);
  std::string coder_name = options.coder;
  if (!options.adapter.empty()) {
    coder_options.model.base = model::resolve_base(db, options.coder.substr(eval::k_model_coder_prefix.size()));
    coder_name = std::string(eval::k_model_coder_prefix) + options.adapter;
  }
  PredictionOutput output(options.output);
  store::RunRecorder& run = context.start_run("predict");
  // The model table is read only for an llm: coder, so a broken model config cannot stop the others.
  std::optional<llm::ModelRegistry> models;
  if (options.coder.rfind(eval::k_llm_coder_prefix, 0) == 0) {
    models = context.model_registry();
    coder_options.llm.models = &*models;
    coder_options.llm.shortlist = options.shortlist;
    coder_options.llm.engine.max_cost_usd = options.max_cost_usd;
    coder_options.llm.engine.use_cache = options.use_cache;
    coder_options.llm.engine.run_id = run.id();
  }
  std::unique_ptr<eval::Coder> coder = eval::make_coder(db, release, coder_name, coder_options);
  codes::Catalog catalog(db, release);
  std::size_t k = std::max<std::size_t>(options.max_codes.value_or(64), 1) + options.ranked;
  // An llm: coder codes every note in one engine run, requests in parallel; its time is shared out evenly.
  std::vector<eval::Prediction> llm_predictions;
  double llm_ms = 0;
  if (const auto* llm_coder = dynamic_cast<const eval::LlmCoder*>(coder.get())) {
    std::vector<std::string> texts;
    for (const auto& input : inputs) texts.push_back(input.text);
    auto started = std::chrono::steady_clock::now();
    llm_predictions = llm_coder->predict_many(texts, k);
    llm_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count() /
             static_cast<double>(texts.size());
  }
  std::vector<nlohmann::json> answers;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const InputText& input = inputs[i];
    auto started = std::chrono::steady_clock::now();
    eval::Prediction prediction =
        llm_predictions.empty() ? eval::predict(*coder, input.text, k) : std::move(llm_predictions[i]);
    if (options.max_codes && prediction.n_predicted > *options.max_codes) prediction.n_predicted = *options.max_codes;
    double ms =
        llm_predictions.empty()
            ? std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count()
            : llm_ms;
    nlohmann::json answer = coder_prediction_json(prediction, catalog, options.ranked, ms);
    answer["coder"] = coder->name();
    if (input.pages > 0) answer["pages"] = input.pages;
    answer["release"] = codes::release_label(release);
    answers.push_back(std::move(answer));
  }
  run.counters()["inputs"] = inputs.size();
  run.counters()["coder"] = coder->name();
  std::vector<nlohmann::json> ids;
  for (const auto& input : inputs) ids.push_back(input.id);
  output.finish(predictions_text(answers, ids, !options.input.empty()), answers.size());
  return ExitCode::ok;
}

ExitCode run_predict(Context& context, const PredictCommandOptions& options) {
  if (!options.model.empty() && !options.adapter.empty()) fail(ExitCode::usage, "give --model or --adapter, not both");
  // --coder model:BASE --adapter A is the adapter on that base, as `serve` takes it.
  const bool adapter_on_coder = !options.adapter.empty() && options.coder.rfind(eval::k_model_coder_prefix, 0) == 0;
  const bool has_model =
      !options.model.empty() || (!options.adapter.empty() && !adapter_on_coder) || !options.base.empty();
  if (has_model == !options.coder.empty())
    fail(ExitCode::usage, "give exactly one of --model (or --base, --adapter) and --coder");
  if (!options.coder.empty()) return run_coder_predict(context, options);
  model::ModelStack& stack = model::model_stack();  // first: without the plugin nothing else matters
  std::vector<InputText> inputs = read_all_inputs(options);
  require_store(context);

  model::PredictOptions predict_options;
  // --base alone codes with the pretrained model as it is; with --model or --adapter it is their base.
  std::optional<std::filesystem::path> base;
  if (!options.base.empty()) base = model::resolve_base(context.store(), options.base);
  const std::string& folder = !options.adapter.empty() ? options.adapter : options.model;
  if (!folder.empty()) {
    predict_options.model_dir = folder;
    predict_options.base = base;
  } else {
    predict_options.model_dir = *base;
  }
  predict_options.prompt_format = options.prompt_format;
  predict_options.beam_size = options.beam;
  predict_options.temperature = options.temperature;
  predict_options.top_p = options.top_p;
  predict_options.seed = options.seed;
  predict_options.max_codes = options.max_codes.value_or(8);
  predict_options.batch_size = options.batch_size;
  predict_options.constrained = !options.unconstrained;
  predict_options.raw = options.raw;
  predict_options.max_new_tokens = options.max_new_tokens;
  predict_options.device = options.device;
  predict_options.threads = options.threads;
  predict_options.system = codes::require_system(options.system);
  predict_options.year = options.year;

  PredictionOutput output(options.output);
  store::RunRecorder& run = context.start_run("predict");
  std::unique_ptr<model::CodePredictor> opened = stack.open_predictor(context.store(), predict_options);
  model::CodePredictor& predictor = *opened;
  std::vector<std::string> texts;
  for (const auto& input : inputs) texts.push_back(input.text);
  std::vector<model::Prediction> predictions = predictor.predict(texts);
  run.counters()["inputs"] = inputs.size();
  run.counters()["model"] = predictor.version();
  std::vector<nlohmann::json> answers;
  std::vector<nlohmann::json> ids;
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    nlohmann::json answer = prediction_json(predictions[i], predictor, options.raw);
    if (inputs[i].pages > 0) answer["pages"] = inputs[i].pages;
    answers.push_back(std::move(answer));
    ids.push_back(inputs[i].id);
  }
  output.finish(predictions_text(answers, ids, !options.input.empty()), answers.size());
  return ExitCode::ok;
}

}  // namespace

void add_predict_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<PredictCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "predict",
      "Codes with descriptions, scores and evidence for clinical text, from a trained model or a coder");
  command
      ->add_option("--model", options->model,
                   "A model folder (from train), a LoRA folder, or a pretrained Hugging Face folder")
      ->envname("MEDCODE_MODEL");
  command->add_option("--adapter", options->adapter, "A LoRA folder (from train --stage lora or dpo)");
  command->add_option("--base", options->base,
                      "A pretrained base by name (model list) or folder: the adapter's base in place of the one "
                      "it names, or alone to code with the base as it is");
  command
      ->add_option("--prompt-format", options->prompt_format,
                   "A pretrained base's chat format: auto (as the adapter was trained, else the base's "
                   "template), plain, chatml, qwen3, llama3 or deepseek-r1")
      ->capture_default_str();
  command->add_option(
      "--coder", options->coder,
      "A coder instead of --model: index, index+rerank:PATH, llm:MODEL, bm25, bm25+terms, model:DIR");
  command->add_option("--min-score", options->min_score,
                      "--coder: assign only codes scoring at least this (default: the coder's threshold)");
  command
      ->add_option("--ranked", options->ranked,
                   "--coder: also list the next N codes of the ranking that were not assigned")
      ->capture_default_str();
  command->add_option("--text", options->text, "The clinical text");
  command->add_option("--file", options->file, "A file whose whole content is one note: text, or a PDF's text layer");
  command->add_option("--input", options->input,
                      "JSON Lines of {\"id\": ..., \"text\": ...} or {\"id\": ..., \"pdf\": FILE} (relative to the "
                      "input's folder); one output line each");
  command->add_option("--system", options->system, "The code system whose release gives valid codes")
      ->check(CLI::IsMember({"icd10cm", "icd10pcs", "hcpcs"}))
      ->capture_default_str();
  command->add_option("--year", options->year, "The release year (default: the newest imported)");
  command->add_option("--beam", options->beam, "Beam width (1: greedy)")->capture_default_str();
  command
      ->add_option("--temperature", options->temperature,
                   "Sample each token at this temperature instead of taking the most probable (0: greedy; "
                   "not with --beam above 1)")
      ->capture_default_str();
  command
      ->add_option("--top-p", options->top_p,
                   "Sampling: draw only from the most probable tokens holding this share of the probability "
                   "(0 < P <= 1)")
      ->capture_default_str();
  command
      ->add_option("--seed", options->seed, "Sampling: the generator's seed (the same seed, the same codes)")
      ->capture_default_str();
  command->add_option("--output", options->output,
                      "Write the predictions to this file (atomically) instead of stdout");
  command->add_option("--max-codes", options->max_codes,
                      "Most codes per text (default: 8 for --model; every code a coder assigns)");
  command->add_option("--batch-size", options->batch_size, "Texts decoded together")->capture_default_str();
  command->add_flag("--unconstrained", options->unconstrained,
                    "Let the model emit any tokens, not only the release's valid codes");
  command->add_flag("--raw", options->raw,
                    "Continue the text as it is (no coding prompt or chat template), over the whole vocabulary, "
                    "and print the prompt's and the continuation's token ids (checks an export against "
                    "another runtime)");
  command->add_option("--max-new-tokens", options->max_new_tokens, "Most tokens generated per text")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--shortlist", options->shortlist,
                   "llm:MODEL: the index's best candidates shown to the model")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_engine_options(command, {.max_cost_usd = &options->max_cost_usd, .use_cache = &options->use_cache},
                     "llm:MODEL: ");
  add_device_options(command, options->device, options->threads);
  commands.push_back({command, [options](Context& context) { return run_predict(context, *options); }});
}

}  // namespace medcode::cli
