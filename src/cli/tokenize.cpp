// `medcode tokenize`: turn an exported dataset (and the code set's descriptions) into a token set for
// training.
#include <fmt/format.h>

#include <iostream>
#include <thread>

#include "context.h"
#include "medcode/model/base_models.h"
#include "medcode/text/tokenize.h"

namespace medcode::cli {

namespace {

struct TokenizeCommandOptions {
  std::string dataset;
  std::string out = "medcode-model/tokenizer";
  std::string tokenizer;
  std::string base;
  std::string prompt_format = "auto";
  int vocab_size = 4000;
  std::string model_type = "unigram";
  int max_length = 128;
  std::string name = "default";
  std::string descriptions = "dataset";
  std::optional<int> year;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::uint64_t seed = 42;
};

text::TokenizeOptions module_options(const TokenizeCommandOptions& options) {
  text::TokenizeOptions tokenize;
  tokenize.dataset = options.dataset;
  tokenize.out_dir = options.out;
  if (!options.tokenizer.empty()) tokenize.tokenizer = options.tokenizer;
  tokenize.vocab_size = options.vocab_size;
  tokenize.model_type = options.model_type;
  tokenize.max_length = options.max_length;
  tokenize.name = options.name;
  tokenize.descriptions = text::parse_description_mode(options.descriptions);
  tokenize.year = options.year;
  tokenize.threads = options.threads;
  tokenize.seed = options.seed;
  return tokenize;
}

void record_counters(Context& context, const text::TokenizeSummary& summary) {
  store::RunRecorder* run = context.run();
  if (!run) return;
  run->counters()["token_set"] = summary.name;
  run->counters()["vocab_size"] = summary.vocab_size;
  run->counters()["description_pairs"] = summary.description_pairs;
  for (const text::SplitStats& split : summary.splits) {
    run->counters()[split.split + "_examples"] = split.examples;
    run->counters()[split.split + "_truncated"] = split.truncated;
    run->counters()[split.split + "_dropped"] = split.dropped;
  }
}

void print_summary(const Context& context, const text::TokenizeSummary& summary) {
  if (context.json()) {
    std::cout << text::to_json(summary).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::cout << fmt::format("{:<8} {:>9} {:>11} {:>6} {:>5} {:>5} {:>10} {:>8}\n", "split", "examples",
                           "tokens", "mean", "p95", "max", "truncated", "dropped");
  for (const text::SplitStats& split : summary.splits) {
    std::cout << fmt::format("{:<8} {:>9} {:>11} {:>6.1f} {:>5} {:>5} {:>10} {:>8}\n", split.split,
                             split.examples, split.tokens, split.mean_length, split.p95_length,
                             split.max_length, split.truncated, split.dropped);
  }
  std::cout << fmt::format("token set '{}' (max length {}); tokenizer {} {} with {} pieces{}\n", summary.name,
                           summary.max_length, summary.tokenizer_trained ? "trained:" : "loaded:",
                           summary.tokenizer_path.string(), summary.vocab_size,
                           summary.prompt_format == "medcode" ? "" : "; chat format " + summary.prompt_format);
}

}  // namespace

void add_tokenize_command(CLI::App& app, CommandList& commands) {
  auto options = std::make_shared<TokenizeCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "tokenize", "Train a SentencePiece tokenizer and store the dataset as token ids with loss masks");
  command
      ->add_option("--dataset", options->dataset,
                   "An export folder (`medcode export --out`) or one .jsonl file")
      ->required();
  command->add_option("--out", options->out, "Folder of the trained tokenizer.model")
      ->envname("MEDCODE_TOKENIZER_DIR")
      ->capture_default_str();
  command->add_option("--tokenizer", options->tokenizer, "Use this tokenizer .model instead of training one");
  command->add_option("--base", options->base,
                      "A pretrained base (Hugging Face folder or `model import` name): its tokenizer.json and "
                      "chat format instead of a SentencePiece tokenizer");
  command
      ->add_option("--prompt-format", options->prompt_format,
                   "With --base: the chat format of prompts, the base's template (auto) or one of these")
      ->check(CLI::IsMember({"auto", "plain", "chatml", "qwen3", "llama3", "deepseek-r1"}))
      ->capture_default_str();
  command
      ->add_option("--vocab-size", options->vocab_size,
                   "Pieces of a trained tokenizer (fewer on little text)")
      ->check(CLI::Range(16, 1'000'000))
      ->capture_default_str();
  command->add_option("--model-type", options->model_type, "SentencePiece algorithm of a trained tokenizer")
      ->check(CLI::IsMember({"unigram", "bpe"}))
      ->capture_default_str();
  command
      ->add_option("--max-length", options->max_length,
                   "Tokens per example; longer texts are cut from their end")
      ->check(CLI::Range(8, 1'000'000))
      ->capture_default_str();
  command->add_option("--name", options->name, "Name of the token set; one of that name is replaced")
      ->capture_default_str();
  command
      ->add_option(
          "--descriptions", options->descriptions,
          "Add code description → code pairs (split corpus): for the dataset's codes, all billable codes, "
          "or none")
      ->check(CLI::IsMember({"dataset", "all", "none"}))
      ->capture_default_str();
  command->add_option("--year", options->year, "ICD-10-CM release of the descriptions (default: the newest)");
  command
      ->add_option("--threads", options->threads,
                   "Threads that tokenize (the tokenizer is trained the same way whatever it is)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  command->add_option("--seed", options->seed, "Seed of the tokenizer's training")->capture_default_str();

  commands.push_back({command, [options](Context& context) {
                        text::TokenizeOptions tokenize = module_options(*options);
                        if (!options->base.empty())
                          tokenize.base = model::resolve_base(context.store(), options->base);
                        tokenize.prompt_format = options->prompt_format;
                        tokenize.run_id = context.start_run("tokenize").id();
                        tokenize.progress = context.progress();
                        text::TokenizeSummary summary = text::tokenize_dataset(context.store(), tokenize);
                        record_counters(context, summary);
                        print_summary(context, summary);
                        return ExitCode::ok;
                      }});
}

}  // namespace medcode::cli
