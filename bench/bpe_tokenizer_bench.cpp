// Encodes texts with medcode's byte-level BPE tokenizer: ids for a comparison (--out) or throughput
// (--bench), for bench/tokenizer_speed.sh. Texts come as JSONL, one JSON string a line, like
// scripts/reference's input.
//
//   bpe_tokenizer_bench TOKENIZER.json TEXTS.jsonl --out IDS.jsonl
//   bpe_tokenizer_bench TOKENIZER.json TEXTS.jsonl --bench SECONDS
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "medcode/text/bpe_tokenizer.h"
#include "medcode/util/error.h"

namespace {

std::vector<std::string> read_texts(const char* path) {
  std::vector<std::string> texts;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).get<std::string>());
  return texts;
}

int run(int argc, char** argv) {
  if (argc != 5) {
    std::cerr
        << "usage: bpe_tokenizer_bench TOKENIZER.json TEXTS.jsonl (--out IDS.jsonl | --bench SECONDS)\n";
    return 2;
  }
  auto load_start = std::chrono::steady_clock::now();
  medcode::text::BpeTokenizer tokenizer = medcode::text::BpeTokenizer::load(argv[1]);
  double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  std::vector<std::string> texts = read_texts(argv[2]);
  if (std::string(argv[3]) == "--out") {
    std::ofstream out(argv[4]);
    for (const std::string& text : texts) out << nlohmann::json(tokenizer.encode(text)).dump() << '\n';
    return 0;
  }
  std::size_t n_bytes = 0;
  for (const std::string& text : texts) n_bytes += text.size();
  for (const std::string& text : texts)
    tokenizer.encode(text);  // warm-up: fills the cache, as the reference's
  const double seconds_wanted = std::stod(argv[4]);
  std::size_t rounds = 0;
  std::size_t n_tokens = 0;
  auto start = std::chrono::steady_clock::now();
  double seconds = 0;
  do {
    for (const std::string& text : texts) n_tokens += tokenizer.encode(text).size();
    ++rounds;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (seconds < seconds_wanted);
  nlohmann::json result = {{"bytes", n_bytes * rounds},
                           {"tokens", n_tokens},
                           {"seconds", seconds},
                           {"mb_per_s", static_cast<double>(n_bytes * rounds) / seconds / 1e6},
                           {"load_seconds", load_seconds}};
  std::cout << result.dump() << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const medcode::Error& error) {
    std::cerr << "bpe_tokenizer_bench: " << error.what() << '\n';
    return static_cast<int>(error.code());
  }
}
