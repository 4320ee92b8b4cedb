// GGUF v3 files (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), written and read without ggml,
// and the tensor encodings of ggml that the writer produces (F32, F16, BF16, Q8_0, Q4_K), bit for bit as
// ggml's reference code makes them, so that a file exported here equals the one llama.cpp's tools would
// write.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medcode::util {
class AtomicFile;
}

namespace medcode::model {

// ggml's tensor types (ggml.h enum ggml_type); the ids are stored in GGUF files and never reused. The writer
// produces F32, F16, BF16, Q8_0 and Q4_K; the reader knows every type's name and block layout so that
// `inspect` can list any GGUF.
enum class GgmlType : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  iq2_xxs = 16,
  iq2_xs = 17,
  iq3_xxs = 18,
  iq1_s = 19,
  iq4_nl = 20,
  iq3_s = 21,
  iq2_s = 22,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  iq1_m = 29,
  bf16 = 30,
  tq1_0 = 34,
  tq2_0 = 35,
  mxfp4 = 39,
  nvfp4 = 40,
  q1_0 = 41,
};

std::string ggml_type_name(std::uint32_t type);      // "F32", "Q4_K", ...; "type 99" when unknown
std::int64_t ggml_block_size(std::uint32_t type);    // elements per block; 0 when unknown
std::uint64_t ggml_block_bytes(std::uint32_t type);  // bytes per block; 0 when unknown
// Bytes of a row of n elements; Error(usage) when n is not a multiple of the block size or the type is
// unknown.
std::uint64_t ggml_row_bytes(GgmlType type, std::int64_t n);
// Parses "f32", "f16", "bf16", "q8_0", "q4_k" (case-insensitive): the types the writer can produce.
std::optional<GgmlType> parse_export_type(std::string_view name);

// One row of n floats (n a multiple of the block size) encoded as ggml does, bit for bit:
// ggml_fp32_to_fp16_row, ggml_fp32_to_bf16_row (round to nearest even, NaN kept quiet),
// quantize_row_q8_0_ref, quantize_row_q4_K_ref. dst must hold ggml_row_bytes(type, n). Error(usage) for the
// types it cannot write.
void quantize_row(GgmlType type, const float* src, std::int64_t n, void* dst);
// The inverse, as ggml's dequantize_row_* and to-float conversions; for f32, f16, bf16, q8_0 and q4_k
// (Error(usage) for others).
void dequantize_row(GgmlType type, const void* src, std::int64_t n, float* dst);

// GGUF metadata value types (gguf.h enum gguf_type).
enum class GgufValueType : std::uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

// "uint8", "int8", ..., "float32", "bool", "string", "array", "uint64", "int64", "float64"; "type 99" when
// unknown.
std::string gguf_value_type_name(GgufValueType type);

struct GgufValue {
  GgufValueType type = GgufValueType::uint32;
  GgufValueType element_type = GgufValueType::uint32;  // arrays
  nlohmann::json value;  // a number, bool or string; an array of them for arrays
};

// Writes a GGUF v3 file as llama.cpp's gguf.cpp and gguf-py's GGUFWriter do: header, key-value pairs in the
// order added, tensor infos in the order added (dims in ggml order, i.e. reversed from the row-major `shape`
// given here), padding to the alignment, then each tensor's data at an offset that is a multiple of the
// alignment (data padded with zero bytes). Tensor data is written as it comes, never held, so a model larger
// than memory can be exported. The file is written under a temporary name beside `path` and renamed by
// finish(); a writer destroyed before finish() removes the temporary file.
class GgufWriter {
 public:
  explicit GgufWriter(
      std::uint32_t alignment = 32);  // alignment != 32 also writes general.alignment (uint32)
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Each: Error(usage) on a duplicate key, on "general.alignment" (set through the constructor) and when
  // called after begin().
  void add_uint32(std::string key, std::uint32_t value);
  void add_int32(std::string key, std::int32_t value);
  void add_uint64(std::string key, std::uint64_t value);
  void add_float32(std::string key, float value);
  void add_bool(std::string key, bool value);
  void add_string(std::string key, std::string value);
  void add_string_array(std::string key, std::vector<std::string> values);
  void add_int32_array(std::string key, std::vector<std::int32_t> values);
  void add_uint8_array(std::string key,
                       std::vector<std::uint8_t> values);  // bytes, e.g. a precompiled charsmap
  void add_float32_array(std::string key, std::vector<float> values);
  // Error(usage) on a duplicate tensor name, a name of 64 bytes or more (ggml's limit), a shape of no or
  // more than 4 dims or with a negative dim, a row length (last dim) not a multiple of the type's block size,
  // and when called after begin().
  void add_tensor(std::string name, std::vector<std::int64_t> shape, GgmlType type);
  // Creates the temporary file and writes everything up to the first tensor's data. Error(storage) naming
  // the file when it cannot be written.
  void begin(const std::filesystem::path& path);
  // Appends bytes of the current tensor (in the order the tensors were added); may be called many times per
  // tensor (e.g. row by row). A tensor is complete when its byte size is reached; its padding is then
  // written. Error(usage) when more bytes come than the tensors hold.
  void write_tensor_data(const void* data, std::size_t bytes);
  // Error(usage) when a tensor is incomplete; flushes, closes and renames to `path`.
  void finish();
  std::uint64_t bytes_written() const;

 private:
  struct Tensor {
    std::string name;
    std::vector<std::int64_t> shape;
    GgmlType type = GgmlType::f32;
    std::uint64_t bytes = 0;
    std::uint64_t offset = 0;  // within the data section
  };

  void add_value(std::string key, GgufValueType type, const std::string& encoded);
  void require_not_begun(std::string_view what) const;
  void write(const void* data, std::size_t bytes);
  void pad_to_alignment();
  void skip_empty_tensors();

  std::uint32_t m_alignment;
  std::string m_encoded_metadata;  // the key-value pairs, encoded as they were added
  std::uint64_t m_metadata_count = 0;
  std::set<std::string, std::less<>> m_keys;
  std::vector<Tensor> m_tensors;
  std::set<std::string, std::less<>> m_tensor_names;
  std::filesystem::path m_path;
  std::unique_ptr<util::AtomicFile> m_file;
  bool m_finished = false;
  std::size_t m_current = 0;            // the tensor whose data comes next
  std::uint64_t m_current_written = 0;  // bytes of it written so far
  std::uint64_t m_bytes_written = 0;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<std::int64_t> shape;  // row-major (ggml's ne reversed)
  std::uint32_t type = 0;           // ggml type id
  std::uint64_t offset = 0;         // absolute offset of the data in the file
  std::uint64_t bytes = 0;

  std::int64_t element_count() const;
};

struct GgufFile {
  std::filesystem::path path;
  std::uint32_t version = 0;
  std::uint32_t alignment = 32;
  std::vector<std::pair<std::string, GgufValue>> metadata;  // in file order
  std::vector<GgufTensorInfo> tensors;                      // in file order
  std::uint64_t data_offset = 0;
  std::uint64_t file_size = 0;

  const GgufValue* find(std::string_view key) const;  // null when absent
};

// Reads metadata and tensor infos (not the data) and checks them against the file: Error(bad_input) naming
// the file and what is wrong — not GGUF (bad magic), a version other than 2 or 3, a truncated header, string
// or array lengths past the end of the file, an unknown value type, nested arrays, a bad general.alignment, a
// tensor of unknown type or more than 4 dims, a tensor whose data lies outside the file, a misaligned offset,
// overlapping tensors, duplicate keys or tensor names.
GgufFile read_gguf(const std::filesystem::path& path);

// A tensor's values as floats (dequantized), read from the file; Error(bad_input) for types dequantize_row
// lacks.
std::vector<float> read_gguf_tensor(const GgufFile& file, const GgufTensorInfo& tensor);

// The metadata as JSON for `model inspect --json`: {key: value}, arrays of more than `max_array` items given
// as {"type": "array", "element_type": "string", "length": N, "head": [the first max_array items]}. Strings
// that are not UTF-8 have the bad bytes replaced with U+FFFD, so that the JSON can always be printed.
nlohmann::json gguf_metadata_json(const GgufFile& file, std::size_t max_array = 8);

}  // namespace medcode::model
