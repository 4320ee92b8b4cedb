// A Hugging Face model folder (Llama, Qwen2, Mistral; see hf_folder.h for what is checked) loaded as a
// Transformer, its safetensors memory-mapped rather than read.
#pragma once

#include <torch/torch.h>

#include <filesystem>

#include "medcode/model/hf_folder.h"
#include "medcode/model/transformer.h"

namespace medcode::model {

// Inspects `dir` (inspect_hf_folder: Error(bad_input) naming the file and key, tensor or shapes at fault)
// and loads its weights onto `device` as `dtype`: kFloat (the default, what training and the golden tests
// use; BF16 and F16 weights are widened), kBFloat16 or kHalf. Weights already of that type on the CPU view
// the file's mapping without a copy; others are converted once, tensor by tensor, so the model is never held
// twice. The model is returned in eval mode. Error(usage) for another dtype.
Transformer load_hf_model(const std::filesystem::path& dir, torch::Device device = torch::kCPU,
                          torch::ScalarType dtype = torch::kFloat);
// The same for a folder already inspected.
Transformer load_hf_model(const HfFolder& folder, torch::Device device = torch::kCPU,
                          torch::ScalarType dtype = torch::kFloat);

}  // namespace medcode::model
