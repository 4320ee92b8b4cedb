// Writes a Hugging Face model folder with random weights of any shape, for the loader benchmark:
//   hf_model_writer DIR ARCHITECTURE VOCAB HIDDEN LAYERS HEADS KV_HEADS INTERMEDIATE TIED(0|1) DTYPE
#include <cstdio>
#include <cstdlib>
#include <string>

#include "support/hf_model_builder.h"

int main(int argc, char** argv) {
  if (argc != 11) {
    std::fprintf(stderr, "usage: hf_model_writer DIR ARCHITECTURE VOCAB HIDDEN LAYERS HEADS KV_HEADS INTERMEDIATE "
                         "TIED DTYPE\n");
    return 2;
  }
  medcode::testing::TinyHfModel model;
  model.architecture = argv[2];
  model.vocab_size = std::atoll(argv[3]);
  model.hidden_size = std::atoll(argv[4]);
  model.layers = std::atoll(argv[5]);
  model.heads = std::atoll(argv[6]);
  model.kv_heads = std::atoll(argv[7]);
  model.intermediate_size = std::atoll(argv[8]);
  model.tied = std::string(argv[9]) == "1";
  model.dtype = argv[10];
  medcode::testing::write_tiny_hf_model(argv[1], model);
  return 0;
}
