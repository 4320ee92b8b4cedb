// Loads a Hugging Face model folder with medcode's loader and touches every weight, for bench/hf_load.sh:
// prints the seconds taken and the process's peak resident set size as JSON.
//   hf_load_bench DIR bf16|f32
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "medcode/model/hf_model.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: hf_load_bench DIR bf16|f32\n");
    return 2;
  }
  torch::ScalarType dtype = std::string(argv[2]) == "bf16" ? torch::kBFloat16 : torch::kFloat;
  auto start = std::chrono::steady_clock::now();
  medcode::model::Transformer model = medcode::model::load_hf_model(argv[1], torch::kCPU, dtype);
  double loaded = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Every weight read once, as a first forward pass would: a mapped file is only read when touched.
  std::uint64_t sum = 0;
  for (const auto& parameter : model->parameters()) {
    const auto* bytes = static_cast<const unsigned char*>(parameter.data_ptr());
    std::size_t n = parameter.nbytes();
    for (std::size_t i = 0; i + 8 <= n; i += 4096 / 2) {  // every page, twice over
      std::uint64_t word;
      std::memcpy(&word, bytes + i, 8);
      sum ^= word;
    }
  }
  double touched = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"load_seconds\": %.3f, \"load_and_touch_seconds\": %.3f, \"peak_rss_bytes\": %ld, \"checksum\": %llu}\n",
              loaded, touched, usage.ru_maxrss * 1024L, static_cast<unsigned long long>(sum));
  return 0;
}
