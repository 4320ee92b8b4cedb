// One LoRA training step on the CPU with medcode's model stack, for bench/lora_step.sh (against
// bench/lora_step_reference.py, the same step in PyTorch eager): a float32 frozen base from a Hugging Face
// folder, rank-16 adapters on all seven linear layers of every block, AdamW on the adapters, cross-entropy
// over every next-token target of one 256-token sequence. Prints one JSON line.
//   lora_step_bench DIR STEPS [THREADS]
// STEPS counts every step; the first is a warm-up, left out of the median.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "medcode/model/hf_model.h"
#include "medcode/model/lora.h"
#include "medcode/model/stack.h"
#include "medcode/model/threads.h"

namespace {

constexpr std::int64_t k_sequence = 256;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The process's peak RSS so far: getrusage's ru_maxrss, which Linux keeps as the address space's high-water
// mark, so that it restarts from the current RSS after reset_peak_rss().
long peak_rss() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss * 1024L;
}
// Lets the steps' own peak be told apart from the load's transient one (the file's mapping beside the
// widened weights).
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: lora_step_bench DIR STEPS [THREADS]\n");
    return 2;
  }
  const int steps = std::atoi(argv[2]);
  if (steps < 2) {
    std::fprintf(stderr, "lora_step_bench: STEPS must be at least 2 (the first is a warm-up)\n");
    return 2;
  }
  // medcode's commands ask libgomp for idle workers that sleep before they load the model stack (threads.h);
  // this binary links LibTorch, whose libgomp read the environment before main(), so it starts again with
  // the policy that medcode would run with. A policy the user chose is kept: `OMP_WAIT_POLICY=PASSIVE
  // bench/lora_step.sh` runs both sides alike.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr) {
    medcode::model::prefer_passive_waiting();
    char self[4096];
    const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);  // the real name, for ps and top
    if (length > 0) {
      self[length] = '\0';
      execv(self, argv);  // on failure, carries on with workers that may spin
    }
  }
  auto threads = medcode::model::configure_threads(argc == 4 ? std::atoi(argv[3]) : 0);
  torch::manual_seed(0);

  auto start = std::chrono::steady_clock::now();
  medcode::model::Transformer model = medcode::model::load_hf_model(argv[1], torch::kCPU, torch::kFloat);
  medcode::model::LoraConfig lora{16, 32.0, 0.0,
                                  {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}};
  medcode::model::apply_lora(model, lora);
  const double load_seconds = seconds_since(start);
  std::vector<torch::Tensor> trainable = medcode::model::lora_parameters(model);
  std::int64_t trainable_count = 0;
  for (const auto& parameter : trainable) trainable_count += parameter.numel();
  // Spelled out rather than left to the defaults, so that the reference's AdamW is visibly the same.
  torch::optim::AdamW optimizer(
      trainable, torch::optim::AdamWOptions(1e-4).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.01));
  model->train();

  // The same ids as the reference computes, without either side's random generator.
  const std::int64_t vocab = model->config().vocab_size;
  auto tokens = torch::empty({1, k_sequence}, torch::kLong);
  for (std::int64_t i = 0; i < k_sequence; ++i) tokens[0][i] = (i * 7919 + 13) % vocab;
  auto inputs = tokens;
  auto targets = tokens.narrow(1, 1, k_sequence - 1).reshape({-1});  // (T-1)

  const long load_peak_rss = peak_rss();
  reset_peak_rss();
  std::vector<double> step_seconds;
  double first_loss = 0;
  for (int step = 0; step < steps; ++step) {
    auto step_start = std::chrono::steady_clock::now();
    auto logits = model->forward(inputs);  // (1, T, V)
    auto predicted = logits.narrow(1, 0, k_sequence - 1).reshape({-1, vocab});  // (T-1, V)
    auto loss = torch::nn::functional::cross_entropy(predicted, targets);
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
    step_seconds.push_back(seconds_since(step_start));
    if (step == 0) first_loss = loss.item<double>();
  }
  const long step_peak_rss = peak_rss();

  std::vector<double> timed(step_seconds.begin() + 1, step_seconds.end());
  std::sort(timed.begin(), timed.end());
  const std::size_t n = timed.size();
  const double median = n % 2 == 1 ? timed[n / 2] : (timed[n / 2 - 1] + timed[n / 2]) / 2;

  std::string seconds_list;
  for (std::size_t i = 0; i < step_seconds.size(); ++i) {
    char item[32];
    std::snprintf(item, sizeof item, "%s%.3f", i == 0 ? "" : ", ", step_seconds[i]);
    seconds_list += item;
  }
  std::printf("{\"load_seconds\": %.3f, \"step_seconds\": [%s], \"median_step_seconds\": %.3f, "
              "\"first_loss\": %.8f, \"peak_rss_bytes\": %ld, \"step_peak_rss_bytes\": %ld, "
              "\"trainable_parameters\": %lld, \"threads\": %d, \"passive_waiting\": %s}\n",
              load_seconds, seconds_list.c_str(), median, first_loss, std::max(load_peak_rss, step_peak_rss), step_peak_rss,
              static_cast<long long>(trainable_count), threads.intra_op,
              threads.passive_waiting ? "true" : "false");
  return 0;
}
