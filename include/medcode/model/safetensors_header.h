// The header of a safetensors file (https://huggingface.co/docs/safetensors), read and checked without
// LibTorch: an 8-byte little-endian header size N, N bytes of JSON mapping each tensor's name to {dtype,
// shape, data_offsets} (plus an optional "__metadata__" of strings), then the data section the offsets index.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::model {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "BF16", "F16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets within the data section
  std::uint64_t end = 0;

  std::int64_t element_count() const;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
  std::uint64_t data_offset = 0;  // where the data section starts in the file: 8 + N
  std::uint64_t data_size = 0;    // the bytes after it
};

// The spec caps the header at 100 MB so that a reader never allocates on the word of a corrupt size.
inline constexpr std::uint64_t k_safetensors_max_header_bytes = 100'000'000;

// Bytes per element of a safetensors dtype; 0 for one this reader does not know.
std::size_t safetensors_dtype_size(std::string_view dtype);

// Reads the header alone (not the data) and checks it against the file's size. Error(bad_input) naming the
// file, and the tensor where there is one, for a file too short for its header, header JSON that does not
// parse, an unknown dtype, a shape that does not fill its offsets, offsets past the end of the file (a
// truncated file), and gaps or overlaps between tensors.
SafetensorsHeader read_safetensors_header(const std::filesystem::path& path);
// The same checks on a header already in memory, for a file of `file_size` bytes.
SafetensorsHeader parse_safetensors_header(std::string_view header_json, std::uint64_t file_size,
                                           const std::filesystem::path& path);

}  // namespace medcode::model
