// safetensors reader and writer (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header mapping each name to {dtype, shape, data_offsets} (plus optional "__metadata__" of
// string values), then the tensors' bytes, little-endian and contiguous. The header alone, without LibTorch,
// is read by safetensors_header.h.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

namespace medcode::model {

struct SafetensorsFile {
  std::map<std::string, torch::Tensor> tensors;  // on the CPU
  std::map<std::string, std::string> metadata;
};

// Writes atomically (temporary name, then rename). Supports F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL.
void write_safetensors(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// Error(bad_input) naming the file and what is wrong (short file, bad header JSON, unknown dtype, offsets
// outside the data or overlapping).
SafetensorsFile read_safetensors(const std::filesystem::path& path);
// The same checks, but the file is memory-mapped (copy-on-write: writing to a tensor never changes the file)
// and each tensor views the mapping without a copy; the mapping lives as long as any tensor of it does. A
// tensor whose bytes are not aligned to its element size (possible after an odd count of 2-byte elements) is
// copied out instead. The file must not change while mapped.
SafetensorsFile map_safetensors(const std::filesystem::path& path);

}  // namespace medcode::model
