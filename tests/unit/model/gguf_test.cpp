// GGUF: writer-reader round trips, the encodings' accuracy and special values, bit-for-bit agreement with
// the ggml that llama.cpp ships (libggml-base from node-llama-cpp, when scripts/install-npm-tools.sh has
// installed it), and the reader's errors on broken files.
#include <dlfcn.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "medcode/model/gguf.h"
#include "medcode/util/error.h"
#include "support/medcode_process.h"

namespace medcode::model {
namespace {

namespace fs = std::filesystem;
using medcode::testing::TempDir;

std::pair<ExitCode, std::string> error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  return {ExitCode::ok, ""};
}

std::vector<float> random_values(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(n);
  for (auto& value : values) value = normal(rng);
  return values;
}

std::vector<unsigned char> encode(GgmlType type, const std::vector<float>& values, std::int64_t row) {
  const std::uint64_t row_bytes = ggml_row_bytes(type, row);
  std::vector<unsigned char> bytes(values.size() / static_cast<std::size_t>(row) * row_bytes);
  for (std::size_t r = 0; r * static_cast<std::size_t>(row) < values.size(); ++r) {
    quantize_row(type, values.data() + r * row, row, bytes.data() + r * row_bytes);
  }
  return bytes;
}

std::vector<float> round_trip(GgmlType type, const std::vector<float>& values, std::int64_t row) {
  const auto bytes = encode(type, values, row);
  const std::uint64_t row_bytes = ggml_row_bytes(type, row);
  std::vector<float> decoded(values.size());
  for (std::size_t r = 0; r * static_cast<std::size_t>(row) < values.size(); ++r) {
    dequantize_row(type, bytes.data() + r * row_bytes, row, decoded.data() + r * row);
  }
  return decoded;
}

std::uint16_t f16_bits(float value) {
  std::uint16_t bits = 0;
  quantize_row(GgmlType::f16, &value, 1, &bits);
  return bits;
}

std::uint16_t bf16_bits(float value) {
  std::uint16_t bits = 0;
  quantize_row(GgmlType::bf16, &value, 1, &bits);
  return bits;
}

float from_bits(std::uint32_t bits) {
  float value = 0;
  std::memcpy(&value, &bits, 4);
  return value;
}

double relative_rms_error(const std::vector<float>& actual, const std::vector<float>& expected) {
  double error = 0, norm = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    error += (actual[i] - expected[i]) * static_cast<double>(actual[i] - expected[i]);
    norm += expected[i] * static_cast<double>(expected[i]);
  }
  return std::sqrt(error / norm);
}

// ---- writer and reader ----

struct TestTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  GgmlType type;
  std::vector<float> values;
};

std::vector<TestTensor> test_tensors() {
  std::vector<TestTensor> tensors;
  unsigned seed = 1;
  for (GgmlType type : {GgmlType::f32, GgmlType::f16, GgmlType::bf16, GgmlType::q8_0, GgmlType::q4_k}) {
    const bool k_quant = type == GgmlType::q4_k;
    const std::vector<std::vector<std::int64_t>> shapes =
        k_quant ? std::vector<std::vector<std::int64_t>>{{3, 256}, {256}, {2, 512}, {2, 1, 256}}
                : std::vector<std::vector<std::int64_t>>{{3, 64}, {256}, {2, 512}, {5, 96}};
    for (const auto& shape : shapes) {
      std::int64_t count = 1;
      for (auto extent : shape) count *= extent;
      tensors.push_back({fmt::format("blk.{}.{}", seed, ggml_type_name(static_cast<std::uint32_t>(type))),
                         shape, type, random_values(static_cast<std::size_t>(count), seed, 0.05f)});
      ++seed;
    }
  }
  return tensors;
}

TEST(GgufWriter, RoundTripsMetadataAndTensorsOfEveryWritableType) {
  TempDir temp;
  const fs::path path = temp / "model.gguf";
  const auto tensors = test_tensors();
  GgufWriter writer;
  writer.add_string("general.architecture", "llama");
  writer.add_uint32("llama.block_count", 2);
  writer.add_int32("test.negative", -7);
  writer.add_uint64("test.big", std::uint64_t{1} << 40);
  writer.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  writer.add_bool("test.flag", true);
  writer.add_string("test.empty", "");
  writer.add_string_array("tokenizer.ggml.tokens", {"<s>", "", "héllo", "日本語", "▁the", "🙂"});
  writer.add_int32_array("tokenizer.ggml.token_type", {1, 2, 3, -1});
  writer.add_float32_array("tokenizer.ggml.scores", {0.0f, -1.5f, 3.25f});
  writer.add_uint8_array("tokenizer.ggml.precompiled_charsmap", {0, 255, 7});
  for (const auto& tensor : tensors) writer.add_tensor(tensor.name, tensor.shape, tensor.type);
  writer.begin(path);
  EXPECT_FALSE(fs::exists(path)) << "the file appears only once finished";
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const auto& tensor = tensors[t];
    const auto bytes = encode(tensor.type, tensor.values, tensor.shape.back());
    if (t % 2 == 0) {
      writer.write_tensor_data(bytes.data(), bytes.size());
    } else {  // in uneven pieces, as a streaming exporter might
      for (std::size_t at = 0; at < bytes.size(); at += 7) {
        writer.write_tensor_data(bytes.data() + at, std::min<std::size_t>(7, bytes.size() - at));
      }
    }
  }
  writer.finish();
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(writer.bytes_written(), fs::file_size(path));

  const GgufFile file = read_gguf(path);
  EXPECT_EQ(file.version, 3u);
  EXPECT_EQ(file.alignment, 32u);
  EXPECT_EQ(file.file_size, fs::file_size(path));
  EXPECT_EQ(file.data_offset % 32, 0u);
  ASSERT_EQ(file.metadata.size(), 11u);
  EXPECT_EQ(file.metadata[0].first, "general.architecture");
  EXPECT_EQ(file.metadata[10].first, "tokenizer.ggml.precompiled_charsmap");
  EXPECT_EQ(file.find("general.alignment"), nullptr);
  EXPECT_EQ(file.find("general.architecture")->value, "llama");
  EXPECT_EQ(file.find("llama.block_count")->type, GgufValueType::uint32);
  EXPECT_EQ(file.find("llama.block_count")->value, 2);
  EXPECT_EQ(file.find("test.negative")->value, -7);
  EXPECT_EQ(file.find("test.negative")->type, GgufValueType::int32);
  EXPECT_EQ(file.find("test.big")->value.get<std::uint64_t>(), std::uint64_t{1} << 40);
  EXPECT_EQ(file.find("test.big")->type, GgufValueType::uint64);
  EXPECT_EQ(file.find("llama.attention.layer_norm_rms_epsilon")->type, GgufValueType::float32);
  EXPECT_EQ(file.find("llama.attention.layer_norm_rms_epsilon")->value.get<double>(), 1e-6);
  EXPECT_EQ(file.find("test.flag")->value, true);
  EXPECT_EQ(file.find("test.empty")->value, "");
  const GgufValue* tokens = file.find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->type, GgufValueType::array);
  EXPECT_EQ(tokens->element_type, GgufValueType::string);
  EXPECT_EQ(tokens->value, nlohmann::json({"<s>", "", "héllo", "日本語", "▁the", "🙂"}));
  EXPECT_EQ(file.find("tokenizer.ggml.token_type")->element_type, GgufValueType::int32);
  EXPECT_EQ(file.find("tokenizer.ggml.token_type")->value, nlohmann::json({1, 2, 3, -1}));
  EXPECT_EQ(file.find("tokenizer.ggml.scores")->value, nlohmann::json({0.0, -1.5, 3.25}));
  EXPECT_EQ(file.find("tokenizer.ggml.precompiled_charsmap")->element_type, GgufValueType::uint8);
  EXPECT_EQ(file.find("tokenizer.ggml.precompiled_charsmap")->value, nlohmann::json({0, 255, 7}));

  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const auto& info = file.tensors[t];
    const auto& tensor = tensors[t];
    SCOPED_TRACE(tensor.name);
    EXPECT_EQ(info.name, tensor.name);
    EXPECT_EQ(info.shape, tensor.shape);
    EXPECT_EQ(info.type, static_cast<std::uint32_t>(tensor.type));
    EXPECT_EQ(info.offset % 32, 0u);
    EXPECT_EQ((info.offset - file.data_offset) % 32, 0u);
    EXPECT_EQ(info.bytes, encode(tensor.type, tensor.values, tensor.shape.back()).size());
    EXPECT_EQ(read_gguf_tensor(file, info), round_trip(tensor.type, tensor.values, tensor.shape.back()));
  }
  const auto json = gguf_metadata_json(file, 4);
  EXPECT_EQ(json["general.architecture"], "llama");
  EXPECT_EQ(json["tokenizer.ggml.token_type"], nlohmann::json({1, 2, 3, -1}));
  EXPECT_EQ(json["tokenizer.ggml.tokens"]["type"], "array");
  EXPECT_EQ(json["tokenizer.ggml.tokens"]["element_type"], "string");
  EXPECT_EQ(json["tokenizer.ggml.tokens"]["length"], 6);
  EXPECT_EQ(json["tokenizer.ggml.tokens"]["head"], nlohmann::json({"<s>", "", "héllo", "日本語"}));
  EXPECT_NO_THROW(json.dump());
}

TEST(GgufWriter, WritesGeneralAlignmentAndAlignsDataForANonDefaultAlignment) {
  TempDir temp;
  const fs::path path = temp / "aligned.gguf";
  GgufWriter writer(64);
  writer.add_string("general.name", "x");
  writer.add_tensor("a", {1, 32}, GgmlType::q8_0);
  writer.add_tensor("b", {3}, GgmlType::f32);
  writer.add_tensor("c", {2, 32}, GgmlType::f16);
  writer.begin(path);
  const auto a = encode(GgmlType::q8_0, random_values(32, 1), 32);
  const auto b = encode(GgmlType::f32, random_values(3, 2), 3);
  const auto c = encode(GgmlType::f16, random_values(64, 3), 32);
  writer.write_tensor_data(a.data(), a.size());
  writer.write_tensor_data(b.data(), b.size());
  writer.write_tensor_data(c.data(), c.size());
  writer.finish();

  const GgufFile file = read_gguf(path);
  EXPECT_EQ(file.alignment, 64u);
  ASSERT_FALSE(file.metadata.empty());
  EXPECT_EQ(file.metadata[0].first, "general.alignment");
  EXPECT_EQ(file.metadata[0].second.type, GgufValueType::uint32);
  EXPECT_EQ(file.metadata[0].second.value, 64);
  EXPECT_EQ(file.data_offset % 64, 0u);
  for (const auto& tensor : file.tensors)
    EXPECT_EQ((tensor.offset - file.data_offset) % 64, 0u) << tensor.name;
  EXPECT_EQ(file.tensors[1].offset - file.tensors[0].offset, 64u);  // 34 bytes padded to 64
  EXPECT_EQ(file.file_size % 64, 0u);
}

TEST(GgufWriter, LeavesNoFileWhenDestroyedBeforeFinish) {
  TempDir temp;
  const fs::path path = temp / "partial.gguf";
  {
    GgufWriter writer;
    writer.add_tensor("a", {256}, GgmlType::f32);
    writer.begin(path);
    const auto values = random_values(100, 1);
    writer.write_tensor_data(values.data(), values.size() * sizeof(float));
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(temp.path())) << "the temporary file is removed too";
}

TEST(GgufWriter, RejectsMisuseAsUsageErrors) {
  TempDir temp;
  auto expect_usage = [](const std::function<void()>& call, const std::string& word) {
    auto [code, message] = error_of(call);
    EXPECT_EQ(code, ExitCode::usage) << message;
    EXPECT_NE(message.find(word), std::string::npos) << message;
  };
  expect_usage(
      [] {
        GgufWriter writer;
        writer.add_uint32("k", 1);
        writer.add_string("k", "again");
      },
      "duplicate");
  expect_usage(
      [] {
        GgufWriter writer;
        writer.add_tensor("t", {32}, GgmlType::f32);
        writer.add_tensor("t", {32}, GgmlType::f16);
      },
      "duplicate");
  expect_usage([] { GgufWriter().add_tensor("t", {2, 30}, GgmlType::q8_0); }, "block");
  expect_usage([] { GgufWriter().add_tensor("t", {2, 128}, GgmlType::q4_k); }, "block");
  expect_usage([] { GgufWriter().add_tensor(std::string(64, 'n'), {32}, GgmlType::f32); }, "bytes");
  expect_usage([] { GgufWriter().add_uint32("general.alignment", 64); }, "alignment");
  expect_usage([] { GgufWriter writer(48); }, "power of two");
  expect_usage(
      [&] {
        GgufWriter writer;
        writer.begin(temp / "late.gguf");
        writer.add_tensor("t", {32}, GgmlType::f32);
      },
      "begun");
  expect_usage(
      [&] {
        GgufWriter writer;
        writer.add_tensor("t", {4}, GgmlType::f32);
        writer.begin(temp / "over.gguf");
        const std::vector<float> values(5, 1.0f);
        writer.write_tensor_data(values.data(), values.size() * sizeof(float));
      },
      "more than");
  expect_usage(
      [&] {
        GgufWriter writer;
        writer.add_tensor("t", {4}, GgmlType::f32);
        writer.begin(temp / "short.gguf");
        const std::vector<float> values(3, 1.0f);
        writer.write_tensor_data(values.data(), values.size() * sizeof(float));
        writer.finish();
      },
      "incomplete");
  expect_usage([] { ggml_row_bytes(GgmlType::q4_k, 100); }, "blocks");
  EXPECT_FALSE(fs::exists(temp / "over.gguf"));
  EXPECT_FALSE(fs::exists(temp / "short.gguf"));
}

TEST(GgufWriter, ReportsAFileThatCannotBeWritten) {
  TempDir temp;
  const fs::path blocker = temp / "not-a-folder";
  std::ofstream(blocker) << "x";
  GgufWriter writer;
  auto [code, message] = error_of([&] { writer.begin(blocker / "model.gguf"); });
  EXPECT_EQ(code, ExitCode::storage) << message;
  EXPECT_NE(message.find("model.gguf"), std::string::npos) << message;
}

// ---- types and encodings ----

TEST(GgufTypes, KnowNamesAndBlockLayouts) {
  EXPECT_EQ(ggml_type_name(0), "F32");
  EXPECT_EQ(ggml_type_name(12), "Q4_K");
  EXPECT_EQ(ggml_type_name(30), "BF16");
  EXPECT_EQ(ggml_type_name(99), "type 99");
  EXPECT_EQ(ggml_block_size(8), 32);
  EXPECT_EQ(ggml_block_bytes(8), 34u);
  EXPECT_EQ(ggml_block_size(12), 256);
  EXPECT_EQ(ggml_block_bytes(12), 144u);
  EXPECT_EQ(ggml_block_bytes(14), 210u);  // Q6_K
  EXPECT_EQ(ggml_block_size(4), 0);       // a removed type
  EXPECT_EQ(ggml_row_bytes(GgmlType::q4_k, 512), 288u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::bf16, 3), 6u);
  EXPECT_EQ(parse_export_type("Q4_K"), GgmlType::q4_k);
  EXPECT_EQ(parse_export_type("bf16"), GgmlType::bf16);
  EXPECT_EQ(parse_export_type("q8_0"), GgmlType::q8_0);
  EXPECT_EQ(parse_export_type("q6_k"), std::nullopt);
}

TEST(GgufQuant, Q8AndQ4KReconstructNormalRowsWithinTheirPrecision) {
  const auto values = random_values(4096 * 4, 7, 0.02f);
  EXPECT_LT(relative_rms_error(round_trip(GgmlType::q8_0, values, 4096), values), 0.01);
  const double q4_error = relative_rms_error(round_trip(GgmlType::q4_k, values, 4096), values);
  EXPECT_GT(q4_error, 0.01);
  EXPECT_LT(q4_error, 0.12);
  EXPECT_LT(relative_rms_error(round_trip(GgmlType::f16, values, 4096), values), 1e-3);
  EXPECT_LT(relative_rms_error(round_trip(GgmlType::bf16, values, 4096), values), 5e-3);
  EXPECT_EQ(round_trip(GgmlType::f32, values, 4096), values);
}

TEST(GgufQuant, HandleZeroConstantNegativeAndOutlierRows) {
  for (GgmlType type : {GgmlType::q8_0, GgmlType::q4_k, GgmlType::f16, GgmlType::bf16}) {
    SCOPED_TRACE(ggml_type_name(static_cast<std::uint32_t>(type)));
    const std::vector<float> zeros(512, 0.0f);
    EXPECT_EQ(round_trip(type, zeros, 512), zeros);

    std::vector<float> negative = random_values(512, 3);
    for (auto& value : negative) value = -std::fabs(value) - 0.1f;
    EXPECT_LT(relative_rms_error(round_trip(type, negative, 512), negative), 0.1);

    std::vector<float> outlier = random_values(512, 4, 0.01f);
    outlier[100] = 1000.0f;
    const auto decoded = round_trip(type, outlier, 512);
    EXPECT_NEAR(decoded[100], 1000.0f, 10.0f);
    EXPECT_LT(relative_rms_error(decoded, outlier), 0.01);
  }
  const std::vector<float> constant(256, 0.5f);
  EXPECT_LT(relative_rms_error(round_trip(GgmlType::q8_0, constant, 256), constant), 0.005);
  EXPECT_LT(relative_rms_error(round_trip(GgmlType::q4_k, constant, 256), constant), 0.01);
}

TEST(GgufQuant, F16RoundsToNearestEvenOverflowsToInfinityAndKeepsSubnormals) {
  EXPECT_EQ(f16_bits(1.0f), 0x3C00);
  EXPECT_EQ(f16_bits(-2.0f), 0xC000);
  EXPECT_EQ(f16_bits(65504.0f), 0x7BFF);  // the largest finite fp16
  EXPECT_EQ(f16_bits(65519.0f), 0x7BFF);  // rounds down, still finite
  EXPECT_EQ(f16_bits(65520.0f), 0x7C00);  // halfway to 2^16: rounds to infinity
  EXPECT_EQ(f16_bits(1e6f), 0x7C00);
  EXPECT_EQ(f16_bits(-1e6f), 0xFC00);
  EXPECT_EQ(f16_bits(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(f16_bits(5.9604645e-8f), 0x0001);  // 2^-24, the smallest subnormal
  EXPECT_EQ(f16_bits(2.9802322e-8f), 0x0000);  // 2^-25: halfway, to even (zero)
  EXPECT_EQ(f16_bits(4.5e-8f), 0x0001);
  EXPECT_EQ(f16_bits(6.0975552e-5f), 0x03FF);  // the largest subnormal
  EXPECT_EQ(f16_bits(-0.0f), 0x8000);
  EXPECT_EQ(f16_bits(1.0f + 1.0f / 2048), 0x3C00);  // halfway between 1 and 1 + 2^-10: to even
  EXPECT_EQ(f16_bits(1.0f + 3.0f / 2048), 0x3C02);
  EXPECT_EQ(f16_bits(std::nanf("")) & 0x7E00, 0x7E00);
  std::uint16_t subnormal = 0x0001;
  float decoded = 0;
  dequantize_row(GgmlType::f16, &subnormal, 1, &decoded);
  EXPECT_EQ(decoded, 5.9604645e-8f);
}

TEST(GgufQuant, Bf16RoundsToNearestEvenAndKeepsNaNQuiet) {
  EXPECT_EQ(bf16_bits(1.0f), 0x3F80);
  EXPECT_EQ(bf16_bits(from_bits(0x3F808000)), 0x3F80);  // halfway, even below
  EXPECT_EQ(bf16_bits(from_bits(0x3F818000)), 0x3F82);  // halfway, even above
  EXPECT_EQ(bf16_bits(from_bits(0x3F808001)), 0x3F81);
  EXPECT_EQ(bf16_bits(std::numeric_limits<float>::max()), 0x7F80);  // rounds to infinity
  EXPECT_EQ(bf16_bits(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(bf16_bits(from_bits(0x7F800001)), 0x7FC0);  // a signalling NaN comes back quiet
  EXPECT_EQ(bf16_bits(from_bits(0xFFC12345)), 0xFFC1);
  std::uint16_t nan = 0x7FC0;
  float decoded = 0;
  dequantize_row(GgmlType::bf16, &nan, 1, &decoded);
  EXPECT_TRUE(std::isnan(decoded));
}

TEST(GgufQuant, RejectsRowsThatAreNotWholeBlocksAndTypesItCannotEncode) {
  std::vector<float> values(64, 1.0f);
  std::vector<unsigned char> bytes(1024);
  EXPECT_EQ(error_of([&] { quantize_row(GgmlType::q8_0, values.data(), 40, bytes.data()); }).first,
            ExitCode::usage);
  EXPECT_EQ(error_of([&] { quantize_row(GgmlType::q6_k, values.data(), 256, bytes.data()); }).first,
            ExitCode::usage);
  EXPECT_EQ(error_of([&] { dequantize_row(GgmlType::q4_0, bytes.data(), 32, values.data()); }).first,
            ExitCode::usage);
}

// ---- bit-compatibility with ggml ----

// ggml's own reference functions, from the libggml-base that node-llama-cpp installs. Loaded once and never
// closed: the library's static initialiser installs a terminate handler and aborts when it finds its own
// already installed, as a second load would.
class GgmlLibrary {
 public:
  using RowFunction = void (*)(const float*, void*, std::int64_t);
  using InverseFunction = void (*)(const void*, float*, std::int64_t);

  static fs::path path() {
    return fs::path(MEDCODE_FIXTURES_DIR) /
           "../../.tools/llama-cpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";
  }

  GgmlLibrary() {
    if (!fs::exists(path())) return;
    m_handle = ::dlopen(path().c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!m_handle) {
      m_error = ::dlerror();
      return;
    }
    fp32_to_fp16 = symbol<RowFunction>("ggml_fp32_to_fp16_row");
    fp32_to_bf16 = symbol<RowFunction>("ggml_fp32_to_bf16_row");
    quantize_q8_0 = symbol<RowFunction>("quantize_row_q8_0_ref");
    quantize_q4_k = symbol<RowFunction>("quantize_row_q4_K_ref");
    dequantize_q8_0 = symbol<InverseFunction>("dequantize_row_q8_0");
    dequantize_q4_k = symbol<InverseFunction>("dequantize_row_q4_K");
    fp16_to_fp32 = symbol<InverseFunction>("ggml_fp16_to_fp32_row");
    gguf_init_from_file = symbol<GgufInit>("gguf_init_from_file");
    gguf_free = symbol<void (*)(void*)>("gguf_free");
    gguf_get_alignment = symbol<std::size_t (*)(const void*)>("gguf_get_alignment");
    gguf_get_data_offset = symbol<std::size_t (*)(const void*)>("gguf_get_data_offset");
    gguf_get_n_kv = symbol<std::int64_t (*)(const void*)>("gguf_get_n_kv");
    gguf_get_n_tensors = symbol<std::int64_t (*)(const void*)>("gguf_get_n_tensors");
    gguf_find_key = symbol<std::int64_t (*)(const void*, const char*)>("gguf_find_key");
    gguf_get_arr_n = symbol<std::size_t (*)(const void*, std::int64_t)>("gguf_get_arr_n");
    gguf_get_arr_str = symbol<const char* (*)(const void*, std::int64_t, std::size_t)>("gguf_get_arr_str");
    gguf_get_val_f32 = symbol<float (*)(const void*, std::int64_t)>("gguf_get_val_f32");
    gguf_get_tensor_name = symbol<const char* (*)(const void*, std::int64_t)>("gguf_get_tensor_name");
    gguf_get_tensor_offset = symbol<std::size_t (*)(const void*, std::int64_t)>("gguf_get_tensor_offset");
    gguf_get_tensor_type = symbol<std::uint32_t (*)(const void*, std::int64_t)>("gguf_get_tensor_type");
    gguf_get_tensor_size = symbol<std::size_t (*)(const void*, std::int64_t)>("gguf_get_tensor_size");
  }

  static const GgmlLibrary& instance() {
    static const GgmlLibrary library;
    return library;
  }

  bool loaded() const { return m_handle && m_error.empty(); }
  const std::string& error() const { return m_error; }

  RowFunction fp32_to_fp16 = nullptr, fp32_to_bf16 = nullptr, quantize_q8_0 = nullptr,
              quantize_q4_k = nullptr;
  InverseFunction dequantize_q8_0 = nullptr, dequantize_q4_k = nullptr, fp16_to_fp32 = nullptr;

  // gguf.h's reader: gguf_init_params is {bool no_alloc; struct ggml_context** ctx;}.
  struct GgufInitParams {
    bool no_alloc;
    void** ctx;
  };
  using GgufInit = void* (*)(const char*, GgufInitParams);
  GgufInit gguf_init_from_file = nullptr;
  void (*gguf_free)(void*) = nullptr;
  std::size_t (*gguf_get_alignment)(const void*) = nullptr;
  std::size_t (*gguf_get_data_offset)(const void*) = nullptr;
  std::int64_t (*gguf_get_n_kv)(const void*) = nullptr;
  std::int64_t (*gguf_get_n_tensors)(const void*) = nullptr;
  std::int64_t (*gguf_find_key)(const void*, const char*) = nullptr;
  std::size_t (*gguf_get_arr_n)(const void*, std::int64_t) = nullptr;
  const char* (*gguf_get_arr_str)(const void*, std::int64_t, std::size_t) = nullptr;
  float (*gguf_get_val_f32)(const void*, std::int64_t) = nullptr;
  const char* (*gguf_get_tensor_name)(const void*, std::int64_t) = nullptr;
  std::size_t (*gguf_get_tensor_offset)(const void*, std::int64_t) = nullptr;
  std::uint32_t (*gguf_get_tensor_type)(const void*, std::int64_t) = nullptr;
  std::size_t (*gguf_get_tensor_size)(const void*, std::int64_t) = nullptr;

 private:
  template <typename Function>
  Function symbol(const char* name) {
    void* address = ::dlsym(m_handle, name);
    if (!address) m_error += std::string(name) + " is missing; ";
    return reinterpret_cast<Function>(address);
  }

  void* m_handle = nullptr;
  std::string m_error;
};

#define SKIP_WITHOUT_GGML(ggml)                                              \
  if (!fs::exists(GgmlLibrary::path()))                                      \
    GTEST_SKIP() << GgmlLibrary::path().lexically_normal().string()          \
                 << " is missing; scripts/install-npm-tools.sh installs it"; \
  ASSERT_TRUE(ggml.loaded()) << ggml.error()

// Rows of many kinds: normal, uniform, heavy-tailed, tiny, with zeros, constant, negative-only, one outlier.
std::vector<float> test_row(int kind, std::int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::cauchy_distribution<float> cauchy(0.0f, 0.02f);
  std::vector<float> row(static_cast<std::size_t>(n));
  for (auto& value : row) {
    switch (kind % 9) {
      case 0:
        value = 0.02f * normal(rng);
        break;
      case 1:
        value = uniform(rng);
        break;
      case 2:
        value = cauchy(rng);
        break;
      case 3:
        value = 1e-6f * normal(rng);
        break;
      case 4:
        value = rng() % 3 == 0 ? 0.0f : normal(rng);
        break;
      case 5:
        value = 0.375f;
        break;
      case 6:
        value = -std::fabs(normal(rng));
        break;
      case 7:
        value = 0.01f * normal(rng);
        break;
      default:
        value = 3e4f * uniform(rng);
        break;
    }
  }
  if (kind % 9 == 7) row[static_cast<std::size_t>(n / 3)] = 50.0f;
  if (kind % 9 == 4) std::fill(row.begin(), row.begin() + std::min<std::int64_t>(n, 64), 0.0f);
  return row;
}

::testing::AssertionResult same_bytes(const void* ours, const void* theirs, std::size_t bytes) {
  const auto* a = static_cast<const unsigned char*>(ours);
  const auto* b = static_cast<const unsigned char*>(theirs);
  for (std::size_t i = 0; i < bytes; ++i) {
    if (a[i] != b[i]) {
      return ::testing::AssertionFailure()
             << "byte " << i << " of " << bytes << ": ours " << int{a[i]} << ", ggml's " << int{b[i]};
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(GgufGgml, EncodesEveryRowExactlyAsGgml) {
  const GgmlLibrary& ggml = GgmlLibrary::instance();
  SKIP_WITHOUT_GGML(ggml);
  std::mt19937 rng(2024);
  const std::vector<std::int64_t> lengths = {256, 512, 768, 1536, 4096, 8960};
  for (int kind = 0; kind < 9 * 12; ++kind) {
    const std::int64_t n = lengths[static_cast<std::size_t>(kind) % lengths.size()];
    const auto row = test_row(kind, n, rng);
    SCOPED_TRACE(::testing::Message() << "row kind " << kind % 9 << ", " << n << " values");
    std::vector<unsigned char> ours(static_cast<std::size_t>(n) * 4), theirs(ours.size());
    const std::vector<std::pair<GgmlType, GgmlLibrary::RowFunction>> encodings = {
        {GgmlType::f16, ggml.fp32_to_fp16},
        {GgmlType::bf16, ggml.fp32_to_bf16},
        {GgmlType::q8_0, ggml.quantize_q8_0},
        {GgmlType::q4_k, ggml.quantize_q4_k}};
    for (const auto& [type, reference] : encodings) {
      const auto bytes = ggml_row_bytes(type, n);
      quantize_row(type, row.data(), n, ours.data());
      reference(row.data(), theirs.data(), n);
      ASSERT_TRUE(same_bytes(ours.data(), theirs.data(), bytes))
          << ggml_type_name(static_cast<std::uint32_t>(type));
    }
  }
}

TEST(GgufGgml, DecodesExactlyAsGgml) {
  const GgmlLibrary& ggml = GgmlLibrary::instance();
  SKIP_WITHOUT_GGML(ggml);
  std::mt19937 rng(7);
  for (int kind = 0; kind < 27; ++kind) {
    const std::int64_t n = 1024;
    const auto row = test_row(kind, n, rng);
    std::vector<unsigned char> encoded(static_cast<std::size_t>(n) * 4);
    std::vector<float> ours(static_cast<std::size_t>(n)), theirs(ours.size());
    for (const auto& [type, reference] : std::vector<std::pair<GgmlType, GgmlLibrary::InverseFunction>>{
             {GgmlType::q8_0, ggml.dequantize_q8_0}, {GgmlType::q4_k, ggml.dequantize_q4_k}}) {
      quantize_row(type, row.data(), n, encoded.data());
      dequantize_row(type, encoded.data(), n, ours.data());
      reference(encoded.data(), theirs.data(), n);
      ASSERT_TRUE(same_bytes(ours.data(), theirs.data(), ours.size() * sizeof(float)))
          << ggml_type_name(static_cast<std::uint32_t>(type)) << ", row kind " << kind % 9;
    }
  }
  // Every fp16 value, NaNs and subnormals included.
  std::vector<std::uint16_t> halves(65536);
  for (std::size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<std::uint16_t>(i);
  std::vector<float> ours(halves.size()), theirs(halves.size());
  dequantize_row(GgmlType::f16, halves.data(), 65536, ours.data());
  ggml.fp16_to_fp32(halves.data(), theirs.data(), 65536);
  EXPECT_TRUE(same_bytes(ours.data(), theirs.data(), ours.size() * sizeof(float)));
}

TEST(GgufGgml, ConvertsSpecialFloatsToF16AndBf16ExactlyAsGgml) {
  const GgmlLibrary& ggml = GgmlLibrary::instance();
  SKIP_WITHOUT_GGML(ggml);
  // A stride through all 2^32 bit patterns (NaNs, infinities, subnormals, both signs) plus the boundaries.
  std::vector<float> values;
  for (std::uint64_t bits = 0; bits < (std::uint64_t{1} << 32); bits += 4099) {
    values.push_back(from_bits(static_cast<std::uint32_t>(bits)));
  }
  for (std::uint32_t bits : {0x477FEFFFu, 0x477FF000u, 0x33000000u, 0x33000001u, 0x387FC000u, 0x7F800001u,
                             0xFFFFFFFFu, 0x3F808000u, 0x3F818000u, 0x80000000u}) {
    values.push_back(from_bits(bits));
  }
  const auto n = static_cast<std::int64_t>(values.size());
  std::vector<std::uint16_t> ours(values.size()), theirs(values.size());
  quantize_row(GgmlType::f16, values.data(), n, ours.data());
  ggml.fp32_to_fp16(values.data(), theirs.data(), n);
  EXPECT_TRUE(same_bytes(ours.data(), theirs.data(), ours.size() * 2)) << "F16";
  quantize_row(GgmlType::bf16, values.data(), n, ours.data());
  ggml.fp32_to_bf16(values.data(), theirs.data(), n);
  EXPECT_TRUE(same_bytes(ours.data(), theirs.data(), ours.size() * 2)) << "BF16";
}

// ggml's own GGUF reader accepts what the writer makes, and sees the same keys, tensors and offsets.
TEST(GgufGgml, GgmlReadsTheWrittenFileAsWritten) {
  const GgmlLibrary& ggml = GgmlLibrary::instance();
  SKIP_WITHOUT_GGML(ggml);
  TempDir temp;
  for (std::uint32_t alignment : {32u, 64u}) {
    SCOPED_TRACE(alignment);
    const fs::path path = temp / fmt::format("ggml-{}.gguf", alignment);
    const auto tensors = test_tensors();
    GgufWriter writer(alignment);
    writer.add_string("general.architecture", "llama");
    writer.add_float32("llama.rope.freq_base", 10000.0f);
    writer.add_string_array("tokenizer.ggml.tokens", {"<s>", "", "héllo"});
    writer.add_int32_array("tokenizer.ggml.token_type", {1, 2, 3});
    writer.add_uint8_array("tokenizer.ggml.precompiled_charsmap", {1, 2});
    writer.add_bool("tokenizer.ggml.add_bos_token", true);
    for (const auto& tensor : tensors) writer.add_tensor(tensor.name, tensor.shape, tensor.type);
    writer.begin(path);
    for (const auto& tensor : tensors) {
      const auto bytes = encode(tensor.type, tensor.values, tensor.shape.back());
      writer.write_tensor_data(bytes.data(), bytes.size());
    }
    writer.finish();
    const GgufFile ours = read_gguf(path);

    void* context = ggml.gguf_init_from_file(path.c_str(), {true, nullptr});
    ASSERT_NE(context, nullptr) << "ggml's gguf_init_from_file refused " << path;
    EXPECT_EQ(ggml.gguf_get_alignment(context), alignment);
    EXPECT_EQ(ggml.gguf_get_data_offset(context), ours.data_offset);
    EXPECT_EQ(ggml.gguf_get_n_kv(context), static_cast<std::int64_t>(ours.metadata.size()));
    const std::int64_t tokens = ggml.gguf_find_key(context, "tokenizer.ggml.tokens");
    ASSERT_GE(tokens, 0);
    EXPECT_EQ(ggml.gguf_get_arr_n(context, tokens), 3u);
    EXPECT_STREQ(ggml.gguf_get_arr_str(context, tokens, 2), "héllo");
    EXPECT_EQ(ggml.gguf_get_val_f32(context, ggml.gguf_find_key(context, "llama.rope.freq_base")), 10000.0f);
    ASSERT_EQ(ggml.gguf_get_n_tensors(context), static_cast<std::int64_t>(tensors.size()));
    for (std::size_t t = 0; t < tensors.size(); ++t) {
      const auto id = static_cast<std::int64_t>(t);
      EXPECT_STREQ(ggml.gguf_get_tensor_name(context, id), tensors[t].name.c_str());
      EXPECT_EQ(ggml.gguf_get_tensor_type(context, id), static_cast<std::uint32_t>(tensors[t].type));
      EXPECT_EQ(ggml.gguf_get_tensor_offset(context, id) + ours.data_offset, ours.tensors[t].offset);
      EXPECT_EQ(ggml.gguf_get_tensor_size(context, id), ours.tensors[t].bytes);
    }
    ggml.gguf_free(context);
  }
}

// ---- broken files ----

// A GGUF assembled field by field, so that each test can break one thing.
struct RawGguf {
  std::string magic = "GGUF";
  std::uint32_t version = 3;
  std::string metadata;
  std::uint64_t metadata_count = 0;
  std::string tensor_infos;
  std::uint64_t tensor_count = 0;
  std::string data;

  template <typename T>
  static void put(std::string& out, T value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  static void put_string(std::string& out, const std::string& text) {
    put<std::uint64_t>(out, text.size());
    out += text;
  }
  void add_uint32(const std::string& key, std::uint32_t value, std::uint32_t type = 4) {
    put_string(metadata, key);
    put(metadata, type);
    put(metadata, value);
    ++metadata_count;
  }
  void add_tensor(const std::string& name, std::vector<std::int64_t> ne, std::uint32_t type,
                  std::uint64_t offset) {
    put_string(tensor_infos, name);
    put<std::uint32_t>(tensor_infos, static_cast<std::uint32_t>(ne.size()));
    for (auto extent : ne) put(tensor_infos, extent);
    put(tensor_infos, type);
    put(tensor_infos, offset);
    ++tensor_count;
  }
  std::string bytes() const {
    std::string out = magic;
    put(out, version);
    put(out, tensor_count);
    put(out, metadata_count);
    out += metadata + tensor_infos;
    out.resize((out.size() + 31) / 32 * 32, '\0');
    return out + data;
  }
  fs::path write(const TempDir& temp, const std::string& name) const {
    const fs::path path = temp / name;
    std::ofstream(path, std::ios::binary) << bytes();
    return path;
  }
};

// A valid file: two F32 tensors of 8 values, at offsets 0 and 32.
RawGguf valid_raw() {
  RawGguf raw;
  raw.add_uint32("test.answer", 42);
  raw.add_tensor("a", {8}, 0, 0);
  raw.add_tensor("b", {8}, 0, 32);
  raw.data.assign(64, '\0');
  return raw;
}

void expect_bad_input(const fs::path& path, const std::string& word) {
  auto [code, message] = error_of([&] { read_gguf(path); });
  EXPECT_EQ(code, ExitCode::bad_input) << message;
  EXPECT_NE(message.find(path.filename().string()), std::string::npos) << message;
  EXPECT_NE(message.find(word), std::string::npos) << "expected `" << word << "` in: " << message;
}

TEST(GgufReader, ReadsAValidHandMadeFile) {
  TempDir temp;
  const GgufFile file = read_gguf(valid_raw().write(temp, "valid.gguf"));
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[1].offset, file.data_offset + 32);
  EXPECT_EQ(file.find("test.answer")->value, 42);
}

TEST(GgufReader, RejectsBrokenFilesNamingThemAndTheFault) {
  TempDir temp;
  {
    RawGguf raw = valid_raw();
    raw.magic = "GGML";
    expect_bad_input(raw.write(temp, "magic.gguf"), "magic");
  }
  {
    RawGguf raw = valid_raw();
    raw.version = 1;
    expect_bad_input(raw.write(temp, "version.gguf"), "version");
  }
  {
    const std::string bytes = valid_raw().bytes();
    const fs::path path = temp / "truncated.gguf";
    std::ofstream(path, std::ios::binary) << bytes.substr(0, 30);
    expect_bad_input(path, "truncated");
  }
  {
    RawGguf raw;
    RawGguf::put<std::uint64_t>(raw.metadata, 1u << 30);  // a key length far past the end
    raw.metadata += "key";
    raw.metadata_count = 1;
    expect_bad_input(raw.write(temp, "string.gguf"), "past the end");
  }
  {
    RawGguf raw;
    RawGguf::put_string(raw.metadata, "tokens");
    RawGguf::put<std::uint32_t>(raw.metadata, 9);  // array
    RawGguf::put<std::uint32_t>(raw.metadata, 8);  // of strings
    RawGguf::put<std::uint64_t>(raw.metadata, std::uint64_t{1} << 40);
    raw.metadata_count = 1;
    expect_bad_input(raw.write(temp, "array.gguf"), "past the end");
  }
  {
    RawGguf raw;
    raw.add_uint32("odd", 1, 13);
    expect_bad_input(raw.write(temp, "value-type.gguf"), "unknown value type");
  }
  {
    RawGguf raw = valid_raw();
    raw.tensor_infos.clear();
    raw.tensor_count = 0;
    raw.add_tensor("a", {8}, 4, 0);  // a removed type
    expect_bad_input(raw.write(temp, "tensor-type.gguf"), "unknown tensor type");
  }
  {
    RawGguf raw = valid_raw();
    raw.data.resize(40);
    expect_bad_input(raw.write(temp, "outside.gguf"), "outside the file");
  }
  {
    RawGguf raw = valid_raw();
    raw.tensor_infos.clear();
    raw.tensor_count = 0;
    raw.add_tensor("a", {8}, 0, 0);
    raw.add_tensor("b", {4}, 0, 40);
    expect_bad_input(raw.write(temp, "misaligned.gguf"), "not aligned");
  }
  {
    RawGguf raw = valid_raw();
    raw.tensor_infos.clear();
    raw.tensor_count = 0;
    raw.add_tensor("a", {16}, 0, 0);
    raw.add_tensor("b", {8}, 0, 32);
    expect_bad_input(raw.write(temp, "overlap.gguf"), "overlap");
  }
  {
    RawGguf raw = valid_raw();
    raw.add_uint32("test.answer", 43);
    expect_bad_input(raw.write(temp, "duplicate-key.gguf"), "duplicate");
  }
  {
    RawGguf raw = valid_raw();
    raw.tensor_infos.clear();
    raw.tensor_count = 0;
    raw.add_tensor("a", {8}, 0, 0);
    raw.add_tensor("a", {8}, 0, 32);
    expect_bad_input(raw.write(temp, "duplicate-tensor.gguf"), "duplicate");
  }
  {
    RawGguf raw = valid_raw();
    raw.add_uint32("general.alignment", 48);
    expect_bad_input(raw.write(temp, "alignment.gguf"), "power of two");
  }
  {
    RawGguf raw = valid_raw();
    raw.tensor_count = 1000;  // more tensor infos than the file holds
    expect_bad_input(raw.write(temp, "count.gguf"), "truncated");
  }
  {
    RawGguf raw = valid_raw();
    raw.tensor_infos.clear();
    raw.tensor_count = 0;
    raw.add_tensor("q", {40}, 8, 0);  // Q8_0 rows are whole blocks of 32
    expect_bad_input(raw.write(temp, "blocks.gguf"), "block");
  }
}

TEST(GgufReader, RefusesToDecodeTypesItCannotDequantize) {
  TempDir temp;
  RawGguf raw;
  raw.add_tensor("q", {32}, 2, 0);  // Q4_0: 18 bytes
  raw.data.assign(32, '\0');
  const fs::path path = raw.write(temp, "q4_0.gguf");
  const GgufFile file = read_gguf(path);
  EXPECT_EQ(ggml_type_name(file.tensors[0].type), "Q4_0");
  auto [code, message] = error_of([&] { read_gguf_tensor(file, file.tensors[0]); });
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(message.find("Q4_0"), std::string::npos) << message;
}

TEST(GgufReader, ShowsLongArraysAsTheirHeadAndRepairsInvalidUtf8) {
  TempDir temp;
  const fs::path path = temp / "meta.gguf";
  GgufWriter writer;
  std::vector<std::string> tokens;
  for (int i = 0; i < 20; ++i) tokens.push_back("t" + std::to_string(i));
  writer.add_string_array("tokenizer.ggml.tokens", tokens);
  writer.add_string("bad", std::string("a\xff") + "b");
  writer.begin(path);
  writer.finish();
  const GgufFile file = read_gguf(path);
  EXPECT_EQ(file.find("bad")->value.get<std::string>(), std::string("a\xff") + "b");  // as stored
  const auto json = gguf_metadata_json(file, 3);
  EXPECT_EQ(json["tokenizer.ggml.tokens"]["length"], 20);
  EXPECT_EQ(json["tokenizer.ggml.tokens"]["head"], nlohmann::json({"t0", "t1", "t2"}));
  EXPECT_EQ(json["bad"],
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_NO_THROW(json.dump());
}

}  // namespace
}  // namespace medcode::model
