// safetensors headers without LibTorch, per https://huggingface.co/docs/safetensors (format section): what
// the inspection of Hugging Face folders and the memory-mapped reader share. The data section must be covered
// exactly by the tensors' data_offsets, without gaps or overlap.
#include "medcode/model/safetensors_header.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <utility>

#include "medcode/util/error.h"

namespace medcode::model {

namespace {

static_assert(std::endian::native == std::endian::little, "safetensors stores little-endian bytes");

constexpr const char* k_metadata_key = "__metadata__";

constexpr std::array<std::pair<std::string_view, std::size_t>, 10> k_dtype_sizes = {{
    {"F64", 8},
    {"F32", 4},
    {"F16", 2},
    {"BF16", 2},
    {"I64", 8},
    {"I32", 4},
    {"I16", 2},
    {"I8", 1},
    {"U8", 1},
    {"BOOL", 1},
}};

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& info, std::uint64_t data_size,
                             const std::filesystem::path& path) {
  auto bad = [&](const std::string& what) {
    fail(ExitCode::bad_input, "{}: tensor `{}`: {}", path.string(), name, what);
  };
  if (!info.is_object()) bad("the header entry is not an object");
  if (!info.contains("dtype") || !info["dtype"].is_string()) bad("no `dtype` string");
  if (!info.contains("shape") || !info["shape"].is_array()) bad("no `shape` array");
  if (!info.contains("data_offsets") || !info["data_offsets"].is_array() || info["data_offsets"].size() != 2)
    bad("no `data_offsets` pair");
  SafetensorsEntry entry;
  entry.name = name;
  entry.dtype = info["dtype"].get<std::string>();
  const auto item_size = safetensors_dtype_size(entry.dtype);
  if (item_size == 0) bad("unknown dtype '" + entry.dtype + "'");
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
    bad(fmt::format("data_offsets [{}, {}] lie outside the data section of {} bytes (a truncated file?)",
                    entry.begin, entry.end, data_size));
  }
  if (count > std::numeric_limits<std::uint64_t>::max() / item_size ||
      count * item_size != entry.end - entry.begin)
    bad(fmt::format("{} elements of {} do not fill data_offsets [{}, {}]", count, entry.dtype, entry.begin,
                    entry.end));
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
void check_coverage(std::vector<const SafetensorsEntry*> entries, std::uint64_t data_size,
                    const std::filesystem::path& path) {
  std::sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t expected = 0;
  for (const auto* entry : entries) {
    if (entry->begin < expected) {
      fail(ExitCode::bad_input, "{}: tensor `{}` overlaps the tensor before it (offset {} < {})",
           path.string(), entry->name, entry->begin, expected);
    }
    if (entry->begin > expected) {
      fail(ExitCode::bad_input, "{}: a gap of {} bytes before tensor `{}`", path.string(),
           entry->begin - expected, entry->name);
    }
    expected = entry->end;
  }
  if (expected != data_size) {
    fail(ExitCode::bad_input, "{}: {} bytes after the last tensor belong to none", path.string(),
         data_size - expected);
  }
}

}  // namespace

std::int64_t SafetensorsEntry::element_count() const {
  std::int64_t count = 1;
  for (auto extent : shape) count *= extent;
  return count;
}

std::size_t safetensors_dtype_size(std::string_view dtype) {
  for (const auto& [name, size] : k_dtype_sizes) {
    if (name == dtype) return size;
  }
  return 0;
}

SafetensorsHeader parse_safetensors_header(std::string_view header_json, std::uint64_t file_size,
                                           const std::filesystem::path& path) {
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_json);
  } catch (const nlohmann::json::exception& e) {
    fail(ExitCode::bad_input, "{}: the header is not valid JSON: {}", path.string(), e.what());
  }
  if (!header.is_object()) fail(ExitCode::bad_input, "{}: the header is not a JSON object", path.string());
  SafetensorsHeader parsed;
  parsed.data_offset = 8 + header_json.size();
  parsed.data_size = file_size - parsed.data_offset;
  for (const auto& [name, info] : header.items()) {  // nlohmann's objects iterate in name order
    if (name == k_metadata_key) {
      parsed.metadata = parse_metadata(info, path);
      continue;
    }
    parsed.tensors.push_back(parse_entry(name, info, parsed.data_size, path));
  }
  std::vector<const SafetensorsEntry*> entries;
  for (const auto& entry : parsed.tensors) entries.push_back(&entry);
  check_coverage(std::move(entries), parsed.data_size, path);
  return parsed;
}

SafetensorsHeader read_safetensors_header(const std::filesystem::path& path) {
  std::error_code error;
  const auto file_size = std::filesystem::file_size(path, error);
  if (error) fail(ExitCode::bad_input, "{}: cannot be read: {}", path.string(), error.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ExitCode::bad_input, "{}: cannot be opened", path.string());
  if (file_size < 8) {
    fail(ExitCode::bad_input, "{}: {} bytes, too short for a safetensors file", path.string(), file_size);
  }
  std::uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), sizeof header_size);
  if (header_size > k_safetensors_max_header_bytes || header_size > file_size - 8) {
    fail(ExitCode::bad_input, "{}: the header claims {} bytes but the file has {} after the size",
         path.string(), header_size, file_size - 8);
  }
  std::string header_json(header_size, '\0');
  in.read(header_json.data(), static_cast<std::streamsize>(header_size));
  if (!in) fail(ExitCode::bad_input, "{}: the header cannot be read", path.string());
  return parse_safetensors_header(header_json, file_size, path);
}

}  // namespace medcode::model
