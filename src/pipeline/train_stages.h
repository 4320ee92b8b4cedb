// The model stages of `medcode run --train`: tokenize the exported golden splits, train the base model and
// LoRA adapters, evaluate the adapted model and the baselines on the test split. Training and the model's
// predictions go through the model plugin.
#pragma once

#include <functional>

#include "medcode/pipeline/run.h"

namespace medcode::pipeline {

using StageSink = std::function<void(const std::string& stage, std::string outcome, bool new_work)>;

// Idempotent: a dataset that has not changed since the last complete run is not tokenized, trained or
// evaluated again; a run killed mid-training resumes from the newest checkpoint.
void run_training_stages(store::Database& db, const RunOptions& options, RunSummary& summary,
                         const StageSink& done);

}  // namespace medcode::pipeline
