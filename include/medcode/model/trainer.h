// The trainer: AdamW with warm-up and a cosine schedule, gradient clipping and accumulation, validation loss,
// metrics in the store, atomic checkpoints and exact resume. Stage `base` trains every weight from scratch;
// stage `lora` trains LoRA adapters on a frozen base model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "medcode/model/lora.h"
#include "medcode/model/stack.h"
#include "medcode/store/database.h"
#include "medcode/util/progress.h"

namespace medcode::model {


// Checks everything first (token set, tokenizer match, sizes, LoRA ranks, an empty split) and throws
// Error(usage) or Error(bad_input) before any training step. `run_id` tags the metrics rows.
TrainSummary train(store::Database& db, std::int64_t run_id, const TrainOptions& options,
                   const TrainProgressCallback& progress = {});

// "cpu", "cuda" or "mps" for `auto|cpu|cuda|mps`; Error(usage) when the device asked for is not available.
std::string resolve_device(const std::string& requested);

}  // namespace medcode::model
