// Training checkpoints: checkpoints/step-00000200/ holds the weights (as a model or adapter folder), the
// optimizer's state, the random generator's state and trainer_state.json. Each is written under a temporary
// name and renamed into place, so a checkpoint exists only once it is complete.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>

#include "medcode/model/transformer.h"

namespace medcode::model {

// The complete checkpoint with the highest step under `checkpoints_dir`, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& checkpoints_dir);
// Writes checkpoints/step-<step> through `write` (given the temporary folder), renames it into place and keeps
// the newest `keep` checkpoints.
void save_checkpoint(const std::filesystem::path& checkpoints_dir, std::int64_t step, std::int64_t keep,
                     const std::function<void(const std::filesystem::path&)>& write);
// The optimizer, the CPU random generator and the step, into a checkpoint folder being written.
void save_training_state(const std::filesystem::path& dir, std::int64_t step, torch::optim::Optimizer& optimizer);
// Loads weights (the adapters only for LoRA), optimizer and generator state; returns the step.
std::int64_t restore_training_state(const std::filesystem::path& dir, Transformer& model,
                                    torch::optim::Optimizer& optimizer, bool lora);

}  // namespace medcode::model
