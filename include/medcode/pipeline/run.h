// `medcode run`: the whole pipeline in one call — fetch → import → generate → score → export → report —
// under a lock on the store, idempotent (a second run with the same arguments does no new work), and offline
// with no API key (CMS text and the BM25 coder).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "medcode/llm/model_config.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/progress.h"

namespace medcode::pipeline {

struct RunOptions {
  std::int64_t target_size = 1000;  // about this many dataset entries
  std::vector<std::string> models;  // none: the offline cms-terms task
  int year = 2023;                  // the ICD-10-CM release
  bool skip_fetch = false;          // the release is imported already, or files are given to import
  std::optional<std::filesystem::path> mirror;
  std::filesystem::path cache_dir;
  bool offline = false;
  std::filesystem::path out_dir = "medcode-output";  // JSONL files and index.html
  std::uint64_t seed = 42;
  double min_quality = 0.7;
  std::optional<double> max_cost_usd;
  std::optional<std::int64_t> run_id;
  // --train: tokenize → train base → train LoRA → evaluate against the baselines, after the export.
  bool train = false;
  std::string train_config = "small";  // model sizes: tiny, small or a YAML file
  std::int64_t base_steps = 300;
  std::int64_t lora_steps = 100;
  std::int64_t batch_size = 16;
  int vocab_size = 2000;
  std::string device = "auto";
  int threads = 0;
  // --train --export gguf|hf: the trained coder (LoRA merged into the base) written beside the report as
  // medcode-coder.gguf (with a Modelfile) or the folder medcode-coder-hf; "" for none.
  std::string export_format;
  std::string export_dtype;  // "": f16 for gguf, f32 for hf
  const llm::ModelRegistry* registry = nullptr;
  std::function<void(const std::string& stage, const std::string& message)> on_stage;  // milestones
  util::ProgressCallback progress;
};

struct StageResult {
  std::string stage;    // fetch, import, generate, score, export, report
  std::string outcome;  // what it did, in words
  bool new_work = false;
};

struct RunSummary {
  std::vector<StageResult> stages;
  std::int64_t entries = 0;
  std::int64_t golden = 0;
  std::vector<std::filesystem::path> outputs;  // exported files and the report
  double seconds = 0;
  bool new_work() const;
  std::optional<std::string> stale_lock;        // the holder of a lock left by a killed run, taken over
  std::vector<std::int64_t> quality_histogram;  // bm25 scores in 10 bins
  std::vector<std::pair<std::string, double>> micro_f1;  // --train: coder → micro-F1 on the test split
  ExitCode exit_code = ExitCode::ok;  // network or policy when generation stopped on a provider or the budget
};
// The summary as --json prints it and the run record keeps it.
nlohmann::json to_json(const RunSummary& summary);

// Error(policy) when another run holds the store's lock (`<db>.lock`); Error(usage) for --train in a build
// without the model stack.
RunSummary run_pipeline(store::Database& db, const RunOptions& options);

}  // namespace medcode::pipeline
