// GGUF files, per https://github.com/ggml-org/ggml/blob/master/docs/gguf.md and llama.cpp's ggml/src/gguf.cpp
// and gguf-py/gguf/gguf_writer.py: "GGUF", version, tensor and key-value counts, the key-value pairs, the
// tensor infos (ggml dims innermost first), padding to the alignment, then the data section, every tensor's
// data at an aligned offset. All numbers little-endian; strings are a uint64 length and bytes, without a
// terminator.
#include "medcode/model/gguf.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>

#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/utf8.h"

namespace medcode::model {

namespace {

static_assert(std::endian::native == std::endian::little, "GGUF stores little-endian numbers");

constexpr std::array<char, 4> k_magic = {'G', 'G', 'U', 'F'};
constexpr std::uint32_t k_version = 3;
constexpr std::uint32_t k_default_alignment = 32;
constexpr std::string_view k_alignment_key = "general.alignment";
constexpr std::size_t k_max_dims = 4;         // GGML_MAX_DIMS
constexpr std::size_t k_max_name_bytes = 64;  // GGML_MAX_NAME, with its terminating zero

std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

bool is_power_of_two(std::uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

// Bytes of a fixed-size value type; 0 for string and array.
std::size_t value_size(GgufValueType type) {
  switch (type) {
    case GgufValueType::uint8:
    case GgufValueType::int8:
    case GgufValueType::boolean:
      return 1;
    case GgufValueType::uint16:
    case GgufValueType::int16:
      return 2;
    case GgufValueType::uint32:
    case GgufValueType::int32:
    case GgufValueType::float32:
      return 4;
    case GgufValueType::uint64:
    case GgufValueType::int64:
    case GgufValueType::float64:
      return 8;
    default:
      return 0;
  }
}

bool is_known_value_type(std::uint32_t type) {
  return type <= static_cast<std::uint32_t>(GgufValueType::float64);
}

// ---- writing ----

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, std::string_view text) {
  put<std::uint64_t>(out, text.size());
  out.append(text);
}

template <typename T>
std::string encode_array(GgufValueType element_type, const std::vector<T>& values) {
  std::string out;
  put(out, static_cast<std::uint32_t>(element_type));
  put<std::uint64_t>(out, values.size());
  for (const auto& value : values) {
    if constexpr (std::is_same_v<T, std::string>) {
      put_string(out, value);
    } else {
      put(out, value);
    }
  }
  return out;
}

// A file that cannot be written is a storage error whatever the errno behind it (a folder where the file
// should go, a missing mount); naming a folder as the output stays a usage error.
template <typename Call>
void as_storage_error(Call&& call) {
  try {
    call();
  } catch (const Error& e) {
    if (e.code() == ExitCode::usage || e.code() == ExitCode::storage) throw;
    throw Error(ExitCode::storage, e.what());
  }
}

template <typename T>
std::string encode_scalar(T value) {
  std::string out;
  put(out, value);
  return out;
}

// ---- reading ----

// Reads the header through a bounds check against the file's size, so that a corrupt length fails with a
// message instead of an allocation of its size.
class HeaderReader {
 public:
  explicit HeaderReader(const std::filesystem::path& path) : m_path(path) {
    std::error_code error;
    m_size = std::filesystem::file_size(path, error);
    if (error) fail(ExitCode::bad_input, "{}: cannot be read: {}", path.string(), error.message());
    m_in.open(path, std::ios::binary);
    if (!m_in) fail(ExitCode::bad_input, "{}: cannot be opened", path.string());
  }

  std::uint64_t size() const { return m_size; }
  std::uint64_t position() const { return m_position; }
  std::uint64_t remaining() const { return m_size - m_position; }

  void read(void* destination, std::uint64_t bytes, std::string_view what) {
    if (bytes > remaining()) {
      fail(ExitCode::bad_input,
           "{}: truncated: {} ({} bytes at offset {}) runs past the end of the file ({} bytes)",
           m_path.string(), what, bytes, m_position, m_size);
    }
    m_in.read(static_cast<char*>(destination), static_cast<std::streamsize>(bytes));
    if (!m_in) fail(ExitCode::bad_input, "{}: cannot be read at offset {}", m_path.string(), m_position);
    m_position += bytes;
  }

  template <typename T>
  T number(std::string_view what) {
    T value{};
    read(&value, sizeof(T), what);
    return value;
  }

  std::string string(std::string_view what) {
    const auto length = number<std::uint64_t>(what);
    if (length > remaining()) {
      fail(ExitCode::bad_input,
           "{}: truncated: {} claims {} bytes at offset {}, past the end of the file ({} bytes)",
           m_path.string(), what, length, m_position, m_size);
    }
    std::string text(length, '\0');
    read(text.data(), length, what);
    return text;
  }

 private:
  const std::filesystem::path& m_path;
  std::ifstream m_in;
  std::uint64_t m_size = 0;
  std::uint64_t m_position = 0;
};

// A float32 as the shortest decimal that reads back as the same float, so that 1e-6f shows as 1e-06 and not
// as the double 9.999999974752427e-07.
double float32_as_double(float value) {
  if (!std::isfinite(value)) return static_cast<double>(value);
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, value).ptr;
  *end = '\0';
  return std::strtod(text, nullptr);
}

nlohmann::json read_scalar(HeaderReader& in, GgufValueType type, std::string_view what) {
  switch (type) {
    case GgufValueType::uint8:
      return in.number<std::uint8_t>(what);
    case GgufValueType::int8:
      return in.number<std::int8_t>(what);
    case GgufValueType::uint16:
      return in.number<std::uint16_t>(what);
    case GgufValueType::int16:
      return in.number<std::int16_t>(what);
    case GgufValueType::uint32:
      return in.number<std::uint32_t>(what);
    case GgufValueType::int32:
      return in.number<std::int32_t>(what);
    case GgufValueType::float32:
      return float32_as_double(in.number<float>(what));
    case GgufValueType::boolean:
      return in.number<std::uint8_t>(what) != 0;
    case GgufValueType::string:
      return in.string(what);
    case GgufValueType::uint64:
      return in.number<std::uint64_t>(what);
    case GgufValueType::int64:
      return in.number<std::int64_t>(what);
    case GgufValueType::float64:
      return in.number<double>(what);
    case GgufValueType::array:
      break;
  }
  return nullptr;  // not reached: callers pass scalar types only
}

GgufValue read_value(HeaderReader& in, const std::string& key, const std::filesystem::path& path) {
  const std::string what = fmt::format("the value of `{}`", key);
  const auto raw_type = in.number<std::uint32_t>(what);
  if (!is_known_value_type(raw_type)) {
    fail(ExitCode::bad_input, "{}: key `{}` has an unknown value type {}", path.string(), key, raw_type);
  }
  GgufValue value;
  value.type = static_cast<GgufValueType>(raw_type);
  if (value.type != GgufValueType::array) {
    value.value = read_scalar(in, value.type, what);
    return value;
  }
  const auto raw_element_type = in.number<std::uint32_t>(what);
  if (!is_known_value_type(raw_element_type)) {
    fail(ExitCode::bad_input, "{}: array `{}` has an unknown element type {}", path.string(), key,
         raw_element_type);
  }
  value.element_type = static_cast<GgufValueType>(raw_element_type);
  if (value.element_type == GgufValueType::array) {
    fail(ExitCode::bad_input, "{}: array `{}` holds arrays; nested arrays are not supported", path.string(),
         key);
  }
  const auto count = in.number<std::uint64_t>(what);
  // A string takes at least its 8-byte length.
  const std::uint64_t least_bytes =
      value.element_type == GgufValueType::string ? 8 : value_size(value.element_type);
  if (count > in.remaining() / least_bytes) {
    fail(ExitCode::bad_input,
         "{}: truncated: array `{}` claims {} items, past the end of the file ({} bytes)", path.string(), key,
         count, in.size());
  }
  value.value = nlohmann::json::array();
  auto& items = value.value.get_ref<nlohmann::json::array_t&>();
  items.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) items.push_back(read_scalar(in, value.element_type, what));
  return value;
}

void read_alignment(GgufFile& file) {
  const GgufValue* alignment = file.find(k_alignment_key);
  if (!alignment) return;
  if (alignment->type != GgufValueType::uint32) {
    fail(ExitCode::bad_input, "{}: {} has type {}, not uint32", file.path.string(), k_alignment_key,
         gguf_value_type_name(alignment->type));
  }
  const auto value = alignment->value.get<std::uint32_t>();
  if (!is_power_of_two(value)) {
    fail(ExitCode::bad_input, "{}: {} is {}, not a power of two", file.path.string(), k_alignment_key, value);
  }
  file.alignment = value;
}

GgufTensorInfo read_tensor_info(HeaderReader& in, const std::filesystem::path& path) {
  GgufTensorInfo tensor;
  tensor.name = in.string("a tensor name");
  auto bad = [&](const std::string& what) {
    fail(ExitCode::bad_input, "{}: tensor `{}`: {}", path.string(), tensor.name, what);
  };
  const std::string what = fmt::format("the info of tensor `{}`", tensor.name);
  const auto n_dims = in.number<std::uint32_t>(what);
  if (n_dims > k_max_dims) bad(fmt::format("{} dimensions, more than ggml's {}", n_dims, k_max_dims));
  std::vector<std::int64_t> ne(n_dims);
  for (auto& extent : ne) {
    extent = in.number<std::int64_t>(what);
    if (extent < 0) bad(fmt::format("a negative dimension {}", extent));
  }
  tensor.shape.assign(ne.rbegin(), ne.rend());
  tensor.type = in.number<std::uint32_t>(what);
  tensor.offset = in.number<std::uint64_t>(what);  // relative to the data section until read_gguf places it
  const std::int64_t block = ggml_block_size(tensor.type);
  if (block == 0) bad(fmt::format("unknown tensor type {}", tensor.type));
  const std::int64_t row = ne.empty() ? 1 : ne[0];
  if (row % block != 0) {
    bad(fmt::format("a row of {} elements is not a whole number of {} blocks of {}", row,
                    ggml_type_name(tensor.type), block));
  }
  std::uint64_t bytes = static_cast<std::uint64_t>(row / block) * ggml_block_bytes(tensor.type);
  for (std::size_t i = 1; i < ne.size(); ++i) {
    const auto extent = static_cast<std::uint64_t>(ne[i]);
    if (extent != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / extent) bad("the size overflows");
    bytes *= extent;
  }
  std::uint64_t count = 1;
  for (auto extent : ne) {
    const auto size = static_cast<std::uint64_t>(extent);
    if (size != 0 && count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / size)
      bad("the element count overflows");
    count *= size;
  }
  tensor.bytes = bytes;
  return tensor;
}

// Places the tensors in the file and checks that each lies inside it, aligned, and apart from the others.
void place_tensors(GgufFile& file) {
  const auto& path = file.path;
  for (auto& tensor : file.tensors) {
    if (tensor.offset % file.alignment != 0) {
      fail(ExitCode::bad_input, "{}: tensor `{}`: offset {} is not aligned to {} bytes", path.string(),
           tensor.name, tensor.offset, file.alignment);
    }
    const std::uint64_t data_size = file.file_size > file.data_offset ? file.file_size - file.data_offset : 0;
    if (tensor.offset > data_size || tensor.bytes > data_size - tensor.offset) {
      fail(ExitCode::bad_input,
           "{}: tensor `{}`: its {} bytes at offset {} lie outside the file (a data section of {} bytes; "
           "truncated?)",
           path.string(), tensor.name, tensor.bytes, tensor.offset, data_size);
    }
    tensor.offset += file.data_offset;
  }
  std::vector<const GgufTensorInfo*> order;
  for (const auto& tensor : file.tensors) order.push_back(&tensor);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const auto* before = order[i - 1];
    if (order[i]->offset < before->offset + before->bytes) {
      fail(ExitCode::bad_input, "{}: tensors `{}` and `{}` overlap (offset {} < {})", path.string(),
           before->name, order[i]->name, order[i]->offset, before->offset + before->bytes);
    }
  }
}

nlohmann::json printable(const nlohmann::json& value) {
  if (!value.is_string()) return value;
  const auto& text = value.get_ref<const std::string&>();
  if (util::first_invalid_utf8(text) == std::string::npos) return value;
  std::string repaired = text;
  util::replace_invalid_utf8(repaired);
  return repaired;
}

}  // namespace

std::string gguf_value_type_name(GgufValueType type) {
  static constexpr std::array<const char*, 13> k_names = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                                          "int32",  "float32", "bool",   "string", "array",
                                                          "uint64", "int64",   "float64"};
  const auto index = static_cast<std::uint32_t>(type);
  return index < k_names.size() ? k_names[index] : "type " + std::to_string(index);
}

// ---- GgufWriter ----

GgufWriter::GgufWriter(std::uint32_t alignment) : m_alignment(alignment) {
  if (!is_power_of_two(alignment))
    fail(ExitCode::usage, "GGUF alignment {} is not a power of two", alignment);
  if (alignment != k_default_alignment) {
    m_keys.emplace(k_alignment_key);
    put_string(m_encoded_metadata, k_alignment_key);
    put(m_encoded_metadata, static_cast<std::uint32_t>(GgufValueType::uint32));
    put(m_encoded_metadata, alignment);
    ++m_metadata_count;
  }
}

GgufWriter::~GgufWriter() = default;  // an uncommitted AtomicFile removes its temporary file

void GgufWriter::require_not_begun(std::string_view what) const {
  if (m_file || m_finished) fail(ExitCode::usage, "GGUF writer: {} after the file was begun", what);
}

void GgufWriter::add_value(std::string key, GgufValueType type, const std::string& encoded) {
  require_not_begun(fmt::format("metadata `{}` added", key));
  if (key == k_alignment_key) {
    fail(ExitCode::usage, "GGUF writer: {} is written from the writer's alignment, not added", key);
  }
  if (!m_keys.insert(key).second) fail(ExitCode::usage, "GGUF writer: duplicate metadata key `{}`", key);
  put_string(m_encoded_metadata, key);
  put(m_encoded_metadata, static_cast<std::uint32_t>(type));
  m_encoded_metadata += encoded;
  ++m_metadata_count;
}

void GgufWriter::add_uint32(std::string key, std::uint32_t value) {
  add_value(std::move(key), GgufValueType::uint32, encode_scalar(value));
}
void GgufWriter::add_int32(std::string key, std::int32_t value) {
  add_value(std::move(key), GgufValueType::int32, encode_scalar(value));
}
void GgufWriter::add_uint64(std::string key, std::uint64_t value) {
  add_value(std::move(key), GgufValueType::uint64, encode_scalar(value));
}
void GgufWriter::add_float32(std::string key, float value) {
  add_value(std::move(key), GgufValueType::float32, encode_scalar(value));
}
void GgufWriter::add_bool(std::string key, bool value) {
  add_value(std::move(key), GgufValueType::boolean, encode_scalar<std::uint8_t>(value ? 1 : 0));
}
void GgufWriter::add_string(std::string key, std::string value) {
  std::string encoded;
  put_string(encoded, value);
  add_value(std::move(key), GgufValueType::string, encoded);
}
void GgufWriter::add_string_array(std::string key, std::vector<std::string> values) {
  add_value(std::move(key), GgufValueType::array, encode_array(GgufValueType::string, values));
}
void GgufWriter::add_int32_array(std::string key, std::vector<std::int32_t> values) {
  add_value(std::move(key), GgufValueType::array, encode_array(GgufValueType::int32, values));
}
void GgufWriter::add_uint8_array(std::string key, std::vector<std::uint8_t> values) {
  add_value(std::move(key), GgufValueType::array, encode_array(GgufValueType::uint8, values));
}
void GgufWriter::add_float32_array(std::string key, std::vector<float> values) {
  add_value(std::move(key), GgufValueType::array, encode_array(GgufValueType::float32, values));
}

void GgufWriter::add_tensor(std::string name, std::vector<std::int64_t> shape, GgmlType type) {
  require_not_begun(fmt::format("tensor `{}` added", name));
  if (name.size() >= k_max_name_bytes) {
    fail(ExitCode::usage, "GGUF writer: tensor name `{}` has {} bytes; ggml allows at most {}", name,
         name.size(), k_max_name_bytes - 1);
  }
  if (shape.empty() || shape.size() > k_max_dims) {
    fail(ExitCode::usage, "GGUF writer: tensor `{}` has {} dimensions; ggml takes 1 to {}", name,
         shape.size(), k_max_dims);
  }
  std::uint64_t rows = 1;
  for (auto extent : shape) {
    if (extent < 0)
      fail(ExitCode::usage, "GGUF writer: tensor `{}` has a negative dimension {}", name, extent);
  }
  for (std::size_t i = 0; i + 1 < shape.size(); ++i) rows *= static_cast<std::uint64_t>(shape[i]);
  const std::int64_t row = shape.back();
  const std::int64_t block = ggml_block_size(static_cast<std::uint32_t>(type));
  if (block == 0 || row % block != 0) {
    fail(ExitCode::usage,
         "GGUF writer: tensor `{}`: a row of {} elements is not a whole number of {} blocks of {}", name, row,
         ggml_type_name(static_cast<std::uint32_t>(type)), block);
  }
  if (!m_tensor_names.insert(name).second) fail(ExitCode::usage, "GGUF writer: duplicate tensor `{}`", name);
  Tensor tensor;
  tensor.name = std::move(name);
  tensor.shape = std::move(shape);
  tensor.type = type;
  tensor.bytes = rows * ggml_row_bytes(type, row);
  tensor.offset =
      m_tensors.empty() ? 0 : align_up(m_tensors.back().offset + m_tensors.back().bytes, m_alignment);
  m_tensors.push_back(std::move(tensor));
}

void GgufWriter::begin(const std::filesystem::path& path) {
  require_not_begun("begin() called");
  std::string header(k_magic.begin(), k_magic.end());
  put(header, k_version);
  put<std::uint64_t>(header, m_tensors.size());
  put<std::uint64_t>(header, m_metadata_count);
  header += m_encoded_metadata;
  for (const auto& tensor : m_tensors) {
    put_string(header, tensor.name);
    put(header, static_cast<std::uint32_t>(tensor.shape.size()));
    for (auto extent = tensor.shape.rbegin(); extent != tensor.shape.rend(); ++extent) put(header, *extent);
    put(header, static_cast<std::uint32_t>(tensor.type));
    put(header, tensor.offset);
  }
  header.resize(align_up(header.size(), m_alignment), '\0');
  m_path = path;
  as_storage_error([&] { m_file = std::make_unique<util::AtomicFile>(path); });
  write(header.data(), header.size());
  skip_empty_tensors();
}

void GgufWriter::write(const void* data, std::size_t bytes) {
  as_storage_error([&] { m_file->write(std::string_view(static_cast<const char*>(data), bytes)); });
  m_bytes_written += bytes;
}

void GgufWriter::pad_to_alignment() {
  static constexpr std::array<char, 256> k_zeros{};
  std::uint64_t padding = align_up(m_current_written, m_alignment) - m_current_written;
  while (padding > 0) {
    const auto chunk = std::min<std::uint64_t>(padding, k_zeros.size());
    write(k_zeros.data(), chunk);
    padding -= chunk;
  }
}

void GgufWriter::skip_empty_tensors() {
  while (m_current < m_tensors.size() && m_tensors[m_current].bytes == 0) ++m_current;
}

void GgufWriter::write_tensor_data(const void* data, std::size_t bytes) {
  if (!m_file) fail(ExitCode::usage, "GGUF writer: tensor data written before begin() or after finish()");
  const auto* next = static_cast<const char*>(data);
  while (bytes > 0) {
    if (m_current >= m_tensors.size()) {
      fail(ExitCode::usage, "{}: {} bytes of tensor data more than the {} tensors hold", m_path.string(),
           bytes, m_tensors.size());
    }
    const Tensor& tensor = m_tensors[m_current];
    const auto take =
        static_cast<std::size_t>(std::min<std::uint64_t>(bytes, tensor.bytes - m_current_written));
    write(next, take);
    next += take;
    bytes -= take;
    m_current_written += take;
    if (m_current_written == tensor.bytes) {
      pad_to_alignment();
      ++m_current;
      m_current_written = 0;
      skip_empty_tensors();
    }
  }
}

void GgufWriter::finish() {
  if (!m_file) fail(ExitCode::usage, "GGUF writer: finish() before begin() or called twice");
  if (m_current < m_tensors.size()) {
    const Tensor& tensor = m_tensors[m_current];
    fail(ExitCode::usage, "{}: tensor `{}` is incomplete: {} of its {} bytes written ({} tensors of {} done)",
         m_path.string(), tensor.name, m_current_written, tensor.bytes, m_current, m_tensors.size());
  }
  as_storage_error([&] { m_file->commit(); });
  m_file.reset();
  m_finished = true;
}

std::uint64_t GgufWriter::bytes_written() const { return m_bytes_written; }

// ---- reading ----

std::int64_t GgufTensorInfo::element_count() const {
  return std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>());
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [name, value] : metadata) {
    if (name == key) return &value;
  }
  return nullptr;
}

GgufFile read_gguf(const std::filesystem::path& path) {
  HeaderReader in(path);
  GgufFile file;
  file.path = path;
  file.file_size = in.size();
  std::array<char, 4> magic{};
  if (in.size() < magic.size()) {
    fail(ExitCode::bad_input, "{}: not a GGUF file: {} bytes, too short for the magic", path.string(),
         in.size());
  }
  in.read(magic.data(), magic.size(), "the magic");
  if (magic != k_magic) {
    fail(ExitCode::bad_input, "{}: not a GGUF file: bad magic {}", path.string(),
         util::describe_bytes(std::string_view(magic.data(), magic.size()), 0));
  }
  file.version = in.number<std::uint32_t>("the version");
  if (file.version != 2 && file.version != 3) {
    fail(ExitCode::bad_input, "{}: GGUF version {} is not supported (only 2 and 3)", path.string(),
         file.version);
  }
  const auto tensor_count = in.number<std::uint64_t>("the tensor count");
  const auto metadata_count = in.number<std::uint64_t>("the metadata count");
  // The smallest key-value pair is an 8-byte key length, a 4-byte type and a 1-byte value; the smallest
  // tensor info a name length, a dim count, a type and an offset.
  if (metadata_count > in.remaining() / 13 || tensor_count > in.remaining() / 24) {
    fail(ExitCode::bad_input,
         "{}: truncated: the header claims {} keys and {} tensors, more than the file's {} bytes hold",
         path.string(), metadata_count, tensor_count, in.size());
  }
  std::set<std::string, std::less<>> keys;
  for (std::uint64_t i = 0; i < metadata_count; ++i) {
    std::string key = in.string("a metadata key");
    if (!keys.insert(key).second)
      fail(ExitCode::bad_input, "{}: duplicate metadata key `{}`", path.string(), key);
    GgufValue value = read_value(in, key, path);
    file.metadata.emplace_back(std::move(key), std::move(value));
  }
  read_alignment(file);
  std::set<std::string, std::less<>> names;
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo tensor = read_tensor_info(in, path);
    if (!names.insert(tensor.name).second) {
      fail(ExitCode::bad_input, "{}: duplicate tensor name `{}`", path.string(), tensor.name);
    }
    file.tensors.push_back(std::move(tensor));
  }
  file.data_offset = align_up(in.position(), file.alignment);
  place_tensors(file);
  return file;
}

std::vector<float> read_gguf_tensor(const GgufFile& file, const GgufTensorInfo& tensor) {
  const auto type = static_cast<GgmlType>(tensor.type);
  if (type != GgmlType::f32 && type != GgmlType::f16 && type != GgmlType::bf16 && type != GgmlType::q8_0 &&
      type != GgmlType::q4_k) {
    fail(ExitCode::bad_input, "{}: tensor `{}` is {}; only F32, F16, BF16, Q8_0 and Q4_K can be decoded",
         file.path.string(), tensor.name, ggml_type_name(tensor.type));
  }
  const std::int64_t row = tensor.shape.empty() ? 1 : tensor.shape.back();
  const std::int64_t count = tensor.element_count();
  std::vector<float> values(static_cast<std::size_t>(count));
  if (count == 0) return values;
  const std::uint64_t row_bytes = ggml_row_bytes(type, row);
  const std::int64_t rows = count / row;
  std::ifstream in(file.path, std::ios::binary);
  if (!in) fail(ExitCode::bad_input, "{}: cannot be opened", file.path.string());
  in.seekg(static_cast<std::streamoff>(tensor.offset));
  // A few MiB at a time: a large tensor's encoded bytes are never held whole beside its floats.
  const std::int64_t rows_per_chunk =
      std::max<std::int64_t>(1, static_cast<std::int64_t>((4u << 20) / row_bytes));
  std::vector<char> chunk;
  for (std::int64_t first = 0; first < rows; first += rows_per_chunk) {
    const std::int64_t chunk_rows = std::min(rows_per_chunk, rows - first);
    chunk.resize(static_cast<std::size_t>(chunk_rows) * row_bytes);
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    if (!in) {
      fail(ExitCode::bad_input, "{}: tensor `{}`: truncated: its data cannot be read", file.path.string(),
           tensor.name);
    }
    for (std::int64_t r = 0; r < chunk_rows; ++r) {
      dequantize_row(type, chunk.data() + static_cast<std::size_t>(r) * row_bytes, row,
                     values.data() + (first + r) * row);
    }
  }
  return values;
}

nlohmann::json gguf_metadata_json(const GgufFile& file, std::size_t max_array) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [key, value] : file.metadata) {
    if (value.type != GgufValueType::array) {
      json[key] = printable(value.value);
      continue;
    }
    const auto& items = value.value;
    nlohmann::json head = nlohmann::json::array();
    for (std::size_t i = 0; i < items.size() && i < max_array; ++i) head.push_back(printable(items[i]));
    if (items.size() <= max_array) {
      json[key] = std::move(head);
      continue;
    }
    json[key] = {{"type", "array"},
                 {"element_type", gguf_value_type_name(value.element_type)},
                 {"length", items.size()},
                 {"head", std::move(head)}};
  }
  return json;
}

}  // namespace medcode::model
