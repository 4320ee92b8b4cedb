// safetensors reader and writer, per https://huggingface.co/docs/safetensors (format section): an 8-byte
// little-endian header size N, N bytes of JSON header (padded with spaces), then the data section, which the
// tensors' data_offsets (relative to its start) must cover exactly, without gaps or overlap.
#include "medcode/model/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <vector>

#include "medcode/util/error.h"
#include "medcode/util/files.h"

namespace medcode::model {

namespace {

static_assert(std::endian::native == std::endian::little, "safetensors stores little-endian bytes");

// The spec caps the header at 100 MB so that a reader never allocates on the word of a corrupt size.
constexpr std::uint64_t k_max_header_bytes = 100'000'000;
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

// One tensor's entry in the header, checked.
struct Entry {
  std::string name;
  torch::ScalarType type;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

Entry parse_entry(const std::string& name, const nlohmann::json& info, std::uint64_t data_size,
                  const std::filesystem::path& path) {
  auto bad = [&](const std::string& what) {
    fail(ExitCode::bad_input, "{}: tensor `{}`: {}", path.string(), name, what);
  };
  if (!info.is_object()) bad("the header entry is not an object");
  if (!info.contains("dtype") || !info["dtype"].is_string()) bad("no `dtype` string");
  if (!info.contains("shape") || !info["shape"].is_array()) bad("no `shape` array");
  if (!info.contains("data_offsets") || !info["data_offsets"].is_array() ||
      info["data_offsets"].size() != 2) {
    bad("no `data_offsets` pair");
  }
  Entry entry;
  entry.name = name;
  const auto dtype = info["dtype"].get<std::string>();
  auto type = dtype_type(dtype);
  if (!type) bad("unknown dtype '" + dtype + "'");
  entry.type = *type;
  std::uint64_t count = 1;
  for (const auto& dim : info["shape"]) {
    if (!dim.is_number_unsigned()) bad("the shape holds " + dim.dump() + ", not a size");
    const auto size = dim.get<std::uint64_t>();
    if (size != 0 && count > std::numeric_limits<std::uint64_t>::max() / size) bad("the shape overflows");
    count *= size;
    entry.shape.push_back(static_cast<std::int64_t>(size));
  }
  for (const auto& offset : info["data_offsets"]) {
    if (!offset.is_number_unsigned()) bad("data_offsets holds " + offset.dump() + ", not an offset");
  }
  entry.begin = info["data_offsets"][0].get<std::uint64_t>();
  entry.end = info["data_offsets"][1].get<std::uint64_t>();
  if (entry.begin > entry.end || entry.end > data_size) {
    bad(fmt::format("data_offsets [{}, {}] lie outside the data section of {} bytes", entry.begin, entry.end,
                    data_size));
  }
  const auto item_size = static_cast<std::uint64_t>(c10::elementSize(entry.type));
  if (count > std::numeric_limits<std::uint64_t>::max() / item_size ||
      count * item_size != entry.end - entry.begin) {
    bad(fmt::format("{} elements of {} do not fill data_offsets [{}, {}]", count, dtype, entry.begin,
                    entry.end));
  }
  return entry;
}

std::map<std::string, std::string> parse_metadata(const nlohmann::json& metadata,
                                                  const std::filesystem::path& path) {
  if (!metadata.is_object()) fail(ExitCode::bad_input, "{}: `__metadata__` is not an object", path.string());
  std::map<std::string, std::string> values;
  for (const auto& [key, value] : metadata.items()) {
    if (!value.is_string())
      fail(ExitCode::bad_input, "{}: metadata `{}` is not a string", path.string(), key);
    values[key] = value.get<std::string>();
  }
  return values;
}

// The data section must be covered exactly: sorted by offset, each tensor starts where the previous ended.
void check_coverage(std::vector<Entry> entries, std::uint64_t data_size, const std::filesystem::path& path) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  for (const auto& entry : entries) {
    if (entry.begin < expected) {
      fail(ExitCode::bad_input, "{}: tensor `{}` overlaps the tensor before it (offset {} < {})",
           path.string(), entry.name, entry.begin, expected);
    }
    if (entry.begin > expected) {
      fail(ExitCode::bad_input, "{}: a gap of {} bytes before tensor `{}`", path.string(),
           entry.begin - expected, entry.name);
    }
    expected = entry.end;
  }
  if (expected != data_size) {
    fail(ExitCode::bad_input, "{}: {} bytes after the last tensor belong to none", path.string(),
         data_size - expected);
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
  if (header_size > k_max_header_bytes || header_size > bytes.size() - 8) {
    fail(ExitCode::bad_input, "{}: the header claims {} bytes but the file has {} after the size",
         path.string(), header_size, bytes.size() - 8);
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8,
                                   bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_size));
  } catch (const nlohmann::json::exception& e) {
    fail(ExitCode::bad_input, "{}: the header is not valid JSON: {}", path.string(), e.what());
  }
  if (!header.is_object()) fail(ExitCode::bad_input, "{}: the header is not a JSON object", path.string());

  const char* data = bytes.data() + 8 + header_size;
  const std::uint64_t data_size = bytes.size() - 8 - header_size;
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == k_metadata_key) {
      file.metadata = parse_metadata(info, path);
      continue;
    }
    entries.push_back(parse_entry(name, info, data_size, path));
  }
  check_coverage(entries, data_size, path);
  for (const auto& entry : entries) {
    auto tensor = torch::empty(entry.shape, torch::TensorOptions(entry.type));
    if (entry.end > entry.begin) std::memcpy(tensor.data_ptr(), data + entry.begin, entry.end - entry.begin);
    if (entry.type == torch::kBool && tensor.view(torch::kByte).gt(1).any().item<bool>()) {
      fail(ExitCode::bad_input, "{}: tensor `{}`: BOOL bytes other than 0 and 1", path.string(), entry.name);
    }
    file.tensors[entry.name] = tensor;
  }
  return file;
}

}  // namespace medcode::model
