// safetensors reader and writer, per https://huggingface.co/docs/safetensors (format section): an 8-byte
// little-endian header size N, N bytes of JSON header (padded with spaces), then the data section, which the
// tensors' data_offsets (relative to its start) must cover exactly, without gaps or overlap. The header is
// parsed and checked by safetensors_header.cpp, which `model import` uses without LibTorch.
#include "medcode/model/safetensors.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <vector>

#include "medcode/model/safetensors_header.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"

namespace medcode::model {

namespace {

static_assert(std::endian::native == std::endian::little, "safetensors stores little-endian bytes");

constexpr const char* k_metadata_key = "__metadata__";

struct Dtype {
  const char* name;
  torch::ScalarType type;
};

constexpr Dtype k_dtypes[] = {
    {"F64", torch::kDouble}, {"F32", torch::kFloat}, {"F16", torch::kHalf},  {"BF16", torch::kBFloat16},
    {"I64", torch::kLong},   {"I32", torch::kInt},   {"I16", torch::kShort}, {"I8", torch::kChar},
    {"U8", torch::kByte},    {"BOOL", torch::kBool},
};

const char* dtype_name(torch::ScalarType type, const std::string& tensor, const std::filesystem::path& path) {
  for (const auto& dtype : k_dtypes) {
    if (dtype.type == type) return dtype.name;
  }
  fail(ExitCode::usage, "{}: tensor `{}` has type {}, which safetensors files here do not hold",
       path.string(), tensor, c10::toString(type));
}

std::optional<torch::ScalarType> dtype_type(const std::string& name) {
  for (const auto& dtype : k_dtypes) {
    if (name == dtype.name) return dtype.type;
  }
  return std::nullopt;
}

void check_bool_bytes(const torch::Tensor& tensor, const std::string& name,
                      const std::filesystem::path& path) {
  if (tensor.scalar_type() == torch::kBool && tensor.view(torch::kByte).gt(1).any().item<bool>()) {
    fail(ExitCode::bad_input, "{}: tensor `{}`: BOOL bytes other than 0 and 1", path.string(), name);
  }
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // header: tensors in name order (std::map), each one's bytes right after the previous one's
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header[k_metadata_key] = metadata;
  std::vector<torch::Tensor> contiguous;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == k_metadata_key) fail(ExitCode::usage, "{}: `{}` cannot name a tensor", path.string(), name);
    auto data = tensor.detach().to(torch::kCPU).contiguous();
    const auto bytes = static_cast<std::uint64_t>(data.numel()) * data.element_size();
    header[name] = {{"dtype", dtype_name(data.scalar_type(), name, path)},
                    {"shape", data.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(data);
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned

  util::AtomicFile file(path);
  std::uint64_t header_size = header_text.size();
  file.write(std::string_view(reinterpret_cast<const char*>(&header_size), sizeof header_size));
  file.write(header_text);
  for (const auto& data : contiguous) {
    file.write(
        std::string_view(static_cast<const char*>(data.data_ptr()), data.numel() * data.element_size()));
  }
  file.commit();
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  const std::string bytes = util::read_file(path);
  if (bytes.size() < 8) {
    fail(ExitCode::bad_input, "{}: {} bytes, too short for a safetensors file", path.string(), bytes.size());
  }
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), sizeof header_size);
  if (header_size > k_safetensors_max_header_bytes || header_size > bytes.size() - 8) {
    fail(ExitCode::bad_input, "{}: the header claims {} bytes but the file has {} after the size",
         path.string(), header_size, bytes.size() - 8);
  }
  const auto header =
      parse_safetensors_header(std::string_view(bytes).substr(8, header_size), bytes.size(), path);
  SafetensorsFile file;
  file.metadata = header.metadata;
  for (const auto& entry : header.tensors) {
    const auto type = dtype_type(entry.dtype).value();  // the header parser knows the same dtypes
    auto tensor = torch::empty(entry.shape, torch::TensorOptions(type));
    if (entry.end > entry.begin) {
      std::memcpy(tensor.data_ptr(), bytes.data() + header.data_offset + entry.begin,
                  entry.end - entry.begin);
    }
    check_bool_bytes(tensor, entry.name, path);
    file.tensors[entry.name] = tensor;
  }
  return file;
}

// ------------------------------------------------------------------------------------------ memory-mapped

namespace {

// A file mapped into memory, unmapped when the last tensor viewing it goes.
class Mapping {
 public:
  Mapping(const std::filesystem::path& path, std::size_t size) : m_size(size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(ExitCode::bad_input, "{}: cannot be opened: {}", path.string(), std::strerror(errno));
    // Mapped read-only with every page filled at once (one call instead of a fault per page, which made
    // loading several times slower than reading the file), then made writable: private, so a tensor written
    // to (training, merging LoRA) gets its own pages and the file none. Populating a writable private mapping
    // would copy every page instead.
    void* address = ::mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    const int map_error = errno;
    ::close(fd);  // the mapping keeps the file
    if (address == MAP_FAILED)
      fail(ExitCode::bad_input, "{}: cannot be mapped: {}", path.string(), std::strerror(map_error));
    if (::mprotect(address, m_size, PROT_READ | PROT_WRITE) != 0) {
      const int protect_error = errno;
      ::munmap(address, m_size);
      fail(ExitCode::storage, "{}: cannot be mapped writable: {}", path.string(), std::strerror(protect_error));
    }
    m_data = static_cast<char*>(address);
  }
  ~Mapping() { ::munmap(m_data, m_size); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  char* data() const { return m_data; }

 private:
  char* m_data = nullptr;
  std::size_t m_size;
};

}  // namespace

SafetensorsFile map_safetensors(const std::filesystem::path& path) {
  const auto header = read_safetensors_header(path);
  SafetensorsFile file;
  file.metadata = header.metadata;
  auto mapping = std::make_shared<Mapping>(path, header.data_offset + header.data_size);
  for (const auto& entry : header.tensors) {
    const auto type = dtype_type(entry.dtype).value();  // the header reader knows the same dtypes
    const auto options = torch::TensorOptions(type);
    char* data = mapping->data() + header.data_offset + entry.begin;
    torch::Tensor tensor;
    if (entry.end == entry.begin) {
      tensor = torch::empty(entry.shape, options);
    } else if (reinterpret_cast<std::uintptr_t>(data) % c10::elementSize(type) != 0) {
      tensor = torch::empty(entry.shape, options);
      std::memcpy(tensor.data_ptr(), data, entry.end - entry.begin);
    } else {
      tensor = torch::from_blob(
          data, entry.shape, [mapping](void*) {}, options);
    }
    check_bool_bytes(tensor, entry.name, path);
    file.tensors[entry.name] = tensor;
  }
  return file;
}

}  // namespace medcode::model
