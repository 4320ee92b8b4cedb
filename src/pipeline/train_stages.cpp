// `run --train`: tokenize → train base → train LoRA → evaluate, each the module call its subcommand makes.
// A fingerprint of the exported splits and the settings decides what is already done.
#include "train_stages.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "medcode/codes/catalog.h"
#include "medcode/eval/evaluation.h"
#include "medcode/eval/make_coder.h"
#include "medcode/model/model_export.h"
#include "medcode/model/stack.h"
#include "medcode/text/token_set.h"
#include "medcode/text/tokenize.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"

namespace medcode::pipeline {

namespace {

namespace fs = std::filesystem;

constexpr const char* k_token_set = "run";
constexpr const char* k_tokenized_marker = "tokenized.fingerprint";
constexpr const char* k_trained_marker = "trained.fingerprint";
constexpr const char* k_exported_marker = "exported.fingerprint";

std::string read_marker(const fs::path& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

fs::path split_file(const RunOptions& options, const std::string& split) {
  return options.out_dir / fmt::format("descriptions-to-codes.golden.{}.jsonl", split);
}

// The exported golden splits and every setting that changes the model.
std::string dataset_fingerprint(const RunOptions& options) {
  std::string material = fmt::format("{}|{}|{}|{}|{}|{}|{}", options.train_config, options.base_steps,
                                     options.lora_steps, options.batch_size, options.vocab_size, options.seed,
                                     options.year);
  for (const char* split : {"train", "val", "test"}) material += "|" + util::sha256_file_hex(split_file(options, split));
  return util::sha256_hex(material);
}

bool token_set_exists(store::Database& db) {
  for (const auto& set : text::list_token_sets(db))
    if (set.name == k_token_set) return true;
  return false;
}

void tokenize(store::Database& db, const RunOptions& options, const fs::path& model_dir, const StageSink& done) {
  text::TokenizeOptions tokenize;
  tokenize.dataset = options.out_dir;
  tokenize.out_dir = model_dir / "tokenizer";
  tokenize.vocab_size = options.vocab_size;
  tokenize.name = k_token_set;
  tokenize.year = options.year;
  tokenize.seed = options.seed;
  tokenize.run_id = options.run_id;
  tokenize.progress = options.progress;
  text::TokenizeSummary summary = text::tokenize_dataset(db, tokenize);
  std::int64_t examples = 0;
  for (const auto& split : summary.splits) examples += split.examples;
  done("tokenize",
       fmt::format("{} examples ({} code descriptions), vocabulary {}", examples, summary.description_pairs,
                   summary.vocab_size),
       true);
}

model::TrainSummary train_stage(store::Database& db, const RunOptions& options, const std::string& stage,
                                const fs::path& out, const fs::path& base) {
  model::TrainOptions train;
  train.stage = stage;
  train.token_set = k_token_set;
  train.out_dir = out;
  train.model_config = options.train_config;
  if (stage == "lora") train.base_dir = base;
  train.max_steps = stage == "base" ? options.base_steps : options.lora_steps;
  train.batch_size = options.batch_size;
  train.learning_rate = stage == "base" ? 1e-3 : 5e-4;
  train.warmup_steps = std::min<std::int64_t>(20, train.max_steps / 10);
  train.eval_every = 0;
  train.checkpoint_every = std::max<std::int64_t>(10, train.max_steps / 5);
  train.resume = true;  // a killed run continues from its newest checkpoint
  train.seed = options.seed;
  train.device = options.device;
  train.threads = options.threads;
  return model::model_stack().train(db, options.run_id.value_or(0), train, {});
}

std::string describe_training(const model::TrainSummary& trained) {
  std::string text = fmt::format("{} steps on {}, train loss {:.3f}", trained.steps, trained.device,
                                 trained.final_train_loss);
  if (trained.final_val_loss) text += fmt::format(", val loss {:.3f}", *trained.final_val_loss);
  if (trained.resumed_from_step > 0) text += fmt::format(" (resumed at step {})", trained.resumed_from_step);
  return text;
}

void evaluate(store::Database& db, const RunOptions& options, const fs::path& lora_dir, RunSummary& summary,
              const StageSink& done) {
  fs::path test_file = split_file(options, "test");
  if (fs::file_size(test_file) == 0) {
    done("evaluate", "skipped: the golden test split is empty (raise --target-size)", false);
    return;
  }
  std::vector<eval::EvalExample> examples = eval::load_eval_dataset(test_file);
  std::vector<eval::EvalExample> train = eval::load_train_examples(split_file(options, "train"));
  codes::ReleaseInfo release = codes::find_release(db, codes::System::icd10cm, options.year);
  eval::ChapterLookup chapters = eval::make_chapter_lookup(db, release);

  eval::CoderOptions coder_options;
  coder_options.train = std::move(train);
  coder_options.model.device = options.device;
  coder_options.model.threads = options.threads;
  std::vector<std::unique_ptr<eval::Coder>> coders;
  for (const std::string& name :
       {std::string(eval::k_model_coder_prefix) + lora_dir.string(), std::string("bm25"), std::string("majority")})
    coders.push_back(eval::make_coder(db, release, name, coder_options));
  std::vector<std::string> parts;
  for (const auto& coder : coders) {
    std::vector<eval::Prediction> predictions = eval::predict_all(*coder, examples, 5);
    eval::EvalResult result = eval::evaluate(examples, predictions, {}, chapters);
    eval::record_evaluation(db, options.run_id, coder->name(), fs::absolute(test_file).string(), result);
    summary.micro_f1.emplace_back(coder->name(), result.micro.f1);
    parts.push_back(fmt::format("{} {:.3f}", coder->name(), result.micro.f1));
  }
  std::string joined;
  for (const auto& part : parts) joined += (joined.empty() ? "" : ", ") + part;
  done("evaluate", fmt::format("micro-F1 on {} test examples: {}", examples.size(), joined), true);
}

// The trained coder, LoRA merged, beside the report; again only when the model or the settings changed.
void export_coder(store::Database& db, const RunOptions& options, const fs::path& model_dir, const std::string& fingerprint,
                  RunSummary& summary, const StageSink& done) {
  if (options.export_format.empty()) return;
  model::ExportOptions export_options;
  export_options.base = model_dir / "base";
  export_options.adapter = model_dir / "lora";
  export_options.format = options.export_format;
  export_options.dtype = options.export_dtype;
  export_options.out = options.out_dir / (options.export_format == "gguf" ? "medcode-coder.gguf" : "medcode-coder-hf");
  export_options.name = "medcode-coder";
  const std::string wanted = fingerprint + "|" + options.export_format + "|" + options.export_dtype;
  if (read_marker(model_dir / k_exported_marker) == wanted && fs::exists(export_options.out)) {
    done("export model", fmt::format("up to date: {}", export_options.out.string()), false);
    summary.outputs.push_back(export_options.out);
    return;
  }
  model::ExportSummary exported = model::export_model(export_options);
  model::record_export(db, exported, options.run_id);
  util::write_file_atomic(model_dir / k_exported_marker, wanted + "\n");
  std::uint64_t bytes = 0;
  for (const auto& file : exported.files) bytes += file.bytes;
  done("export model",
       fmt::format("{} ({} {}, {} files, {:.1f} MB)", export_options.out.string(), exported.format, exported.dtype,
                   exported.files.size(), static_cast<double>(bytes) / 1e6),
       true);
  summary.outputs.push_back(export_options.out);
}

}  // namespace

void run_training_stages(store::Database& db, const RunOptions& options, RunSummary& summary,
                         const StageSink& done) {
  const fs::path model_dir = options.out_dir / "model";
  const fs::path base_dir = model_dir / "base";
  const fs::path lora_dir = model_dir / "lora";
  fs::create_directories(model_dir);
  const std::string fingerprint = dataset_fingerprint(options);
  if (read_marker(model_dir / k_trained_marker) == fingerprint && token_set_exists(db) &&
      fs::exists(lora_dir / "adapter_model.safetensors")) {
    done("train", fmt::format("up to date: {} holds the model of this dataset", model_dir.string()), false);
    summary.outputs.push_back(base_dir);
    summary.outputs.push_back(lora_dir);
    export_coder(db, options, model_dir, fingerprint, summary, done);
    return;
  }
  if (read_marker(model_dir / k_tokenized_marker) != fingerprint || !token_set_exists(db)) {
    // A new tokenizer makes older checkpoints meaningless.
    fs::remove_all(base_dir);
    fs::remove_all(lora_dir);
    tokenize(db, options, model_dir, done);
    util::write_file_atomic(model_dir / k_tokenized_marker, fingerprint + "\n");
  }
  done("train base", describe_training(train_stage(db, options, "base", base_dir, {})), true);
  done("train lora", describe_training(train_stage(db, options, "lora", lora_dir, base_dir)), true);
  evaluate(db, options, lora_dir, summary, done);
  util::write_file_atomic(model_dir / k_trained_marker, fingerprint + "\n");
  summary.outputs.push_back(base_dir);
  summary.outputs.push_back(lora_dir);
  export_coder(db, options, model_dir, fingerprint, summary, done);
}

}  // namespace medcode::pipeline
