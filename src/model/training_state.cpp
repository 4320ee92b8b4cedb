// Checkpoint folders of the trainer and exact resume: weights, AdamW moments, generator state, step.
#include "training_state.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <vector>

#include "medcode/model/lora.h"
#include "medcode/model/safetensors.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"

namespace medcode::model {

namespace {

namespace fs = std::filesystem;

constexpr const char* k_state_file = "trainer_state.json";
constexpr const char* k_optimizer_file = "optimizer.pt";
constexpr const char* k_rng_file = "rng.safetensors";

std::optional<std::int64_t> step_of(const fs::path& dir) {
  std::string name = dir.filename().string();
  if (name.rfind("step-", 0) != 0 || name.size() <= 5) return std::nullopt;
  std::string digits = name.substr(5);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoll(digits);
}

std::vector<std::pair<std::int64_t, fs::path>> complete_checkpoints(const fs::path& checkpoints_dir) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  std::error_code error;
  if (!fs::is_directory(checkpoints_dir, error)) return found;
  for (const auto& entry : fs::directory_iterator(checkpoints_dir)) {
    auto step = step_of(entry.path());
    if (step && fs::is_regular_file(entry.path() / k_state_file)) found.emplace_back(*step, entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

std::optional<fs::path> latest_checkpoint(const fs::path& checkpoints_dir) {
  auto found = complete_checkpoints(checkpoints_dir);
  if (found.empty()) return std::nullopt;
  return found.back().second;
}

void save_checkpoint(const fs::path& checkpoints_dir, std::int64_t step, std::int64_t keep,
                     const std::function<void(const fs::path&)>& write) {
  fs::create_directories(checkpoints_dir);
  const fs::path final_dir = checkpoints_dir / fmt::format("step-{:08}", step);
  const fs::path temporary = checkpoints_dir / fmt::format(".step-{:08}.partial", step);
  fs::remove_all(temporary);
  fs::create_directories(temporary);
  write(temporary);
  fs::remove_all(final_dir);
  fs::rename(temporary, final_dir);
  auto found = complete_checkpoints(checkpoints_dir);
  const std::size_t kept = static_cast<std::size_t>(std::max<std::int64_t>(1, keep));
  for (std::size_t i = 0; i + kept < found.size(); ++i) fs::remove_all(found[i].second);
  spdlog::debug("checkpoint {}", final_dir.string());
}

void save_training_state(const fs::path& dir, std::int64_t step, torch::optim::Optimizer& optimizer) {
  torch::save(optimizer, (dir / k_optimizer_file).string());
  at::Tensor generator_state;
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator_state = generator.get_state();
  }
  write_safetensors(dir / k_rng_file, {{"cpu", generator_state}});
  // Written last: its presence marks the checkpoint complete.
  util::AtomicFile state(dir / k_state_file);
  state.write(nlohmann::json({{"step", step}, {"format", 1}}).dump(2));
  state.commit();
}

std::int64_t restore_training_state(const fs::path& dir, Transformer& model, torch::optim::Optimizer& optimizer,
                                    bool lora) {
  std::ifstream input(dir / k_state_file);
  nlohmann::json state = nlohmann::json::parse(input, nullptr, false);
  if (state.is_discarded() || !state.contains("step") || !state["step"].is_number_integer())
    fail(ExitCode::bad_input, "{}: not a valid trainer state", (dir / k_state_file).string());
  torch::NoGradGuard no_grad;
  if (lora) {
    fs::path adapter = dir / "adapter_model.safetensors";
    load_lora_state_dict(model, read_safetensors(adapter).tensors, adapter.string());
  } else {
    fs::path weights = dir / "model.safetensors";
    model->load_hf_state_dict(read_safetensors(weights).tensors, weights.string());
  }
  torch::load(optimizer, (dir / k_optimizer_file).string());
  SafetensorsFile rng = read_safetensors(dir / k_rng_file);
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(rng.tensors.at("cpu"));
  return state["step"].get<std::int64_t>();
}

}  // namespace medcode::model
