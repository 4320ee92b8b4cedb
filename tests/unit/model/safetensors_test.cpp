// safetensors: every dtype and the metadata survive a round trip; each kind of corrupt file is bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>

#include "medcode/model/safetensors.h"
#include "medcode/util/files.h"
#include "model_test_support.h"
#include "support/medcode_process.h"

namespace medcode::model {
namespace {

using medcode::testing::TempDir;
using testing::error_of;

std::string little_endian_u64(std::uint64_t value) {
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &value, 8);
  return bytes;
}

// A file made by hand: the header's JSON text and the data bytes.
std::filesystem::path write_raw(const TempDir& dir, const std::string& header, const std::string& data,
                                std::uint64_t claimed_header_size = 0) {
  auto path = dir / "raw.safetensors";
  util::write_file_atomic(
      path, little_endian_u64(claimed_header_size ? claimed_header_size : header.size()) + header + data);
  return path;
}

void expect_bad_input(const std::filesystem::path& path, const std::string& mention) {
  // the reader and the memory-mapping reader check alike
  for (auto reader : {&read_safetensors, &map_safetensors}) {
    auto [code, message] = error_of([&] { reader(path); });
    EXPECT_EQ(code, ExitCode::bad_input) << message;
    EXPECT_NE(message.find(path.filename().string()), std::string::npos) << message;
    EXPECT_NE(message.find(mention), std::string::npos) << message;
  }
}

TEST(Safetensors, RoundTripsEveryDtypeWithMetadata) {
  TempDir dir;
  std::map<std::string, torch::Tensor> tensors = {
      {"f64", torch::randn({2, 3}, torch::kDouble)},
      {"f32", torch::randn({4}, torch::kFloat)},
      {"f16", torch::randn({3, 1}).to(torch::kHalf)},
      {"bf16", torch::randn({5}).to(torch::kBFloat16)},
      {"i64", torch::arange(-3, 3, torch::kLong)},
      {"i32", torch::arange(0, 7, torch::kInt).view({7, 1})},
      {"i16", torch::tensor({-300, 7, 300}, torch::kShort)},
      {"i8", torch::tensor({-128, 0, 127}, torch::kChar)},
      {"u8", torch::tensor({0, 200, 255}, torch::kByte)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5F)},
      {"empty", torch::zeros({0, 4})},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "a test"}};
  write_safetensors(dir / "all.safetensors", tensors, metadata);

  auto file = read_safetensors(dir / "all.safetensors");
  EXPECT_EQ(file.metadata, metadata);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    const auto& read = file.tensors.at(name);
    EXPECT_EQ(read.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_EQ(read.sizes(), tensor.sizes()) << name;
    EXPECT_TRUE(read.equal(tensor)) << name;
  }
}

TEST(Safetensors, WritesSortedTensorsBehindAnAlignedHeader) {
  TempDir dir;
  write_safetensors(dir / "t.safetensors", {{"b", torch::ones({3})}, {"a", torch::zeros({2}, torch::kLong)}});
  auto bytes = util::read_file(dir / "t.safetensors");
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  EXPECT_EQ(header_size % 8, 0U);
  auto header = nlohmann::json::parse(bytes.substr(8, header_size));
  EXPECT_EQ(header["a"]["data_offsets"], nlohmann::json({0, 16}));
  EXPECT_EQ(header["b"]["data_offsets"], nlohmann::json({16, 28}));
  EXPECT_EQ(header["b"]["dtype"], "F32");
  EXPECT_EQ(bytes.size(), 8 + header_size + 28);
}

TEST(Safetensors, WritesNonContiguousTensorsByValue) {
  TempDir dir;
  auto transposed = torch::arange(6, torch::kFloat).view({2, 3}).t();
  write_safetensors(dir / "t.safetensors", {{"t", transposed}});
  EXPECT_TRUE(read_safetensors(dir / "t.safetensors").tensors.at("t").equal(transposed));
}

TEST(Safetensors, LeavesNoFileWhenATypeCannotBeWritten) {
  TempDir dir;
  auto [code, message] = error_of([&] {
    write_safetensors(dir / "c.safetensors", {{"complex", torch::zeros({2}, torch::kComplexFloat)}});
  });
  EXPECT_EQ(code, ExitCode::usage) << message;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Safetensors, TruncatedFilesAreBadInput) {
  TempDir dir;
  write_safetensors(dir / "t.safetensors", {{"w", torch::ones({4})}});
  auto bytes = util::read_file(dir / "t.safetensors");
  util::write_file_atomic(dir / "short.safetensors", bytes.substr(0, 5));
  expect_bad_input(dir / "short.safetensors", "too short");
  util::write_file_atomic(dir / "cut.safetensors", bytes.substr(0, bytes.size() - 4));
  expect_bad_input(dir / "cut.safetensors", "`w`");
}

TEST(Safetensors, AHeaderLongerThanTheFileIsBadInput) {
  TempDir dir;
  expect_bad_input(write_raw(dir, "{}", "", 1000), "header claims 1000 bytes");
}

TEST(Safetensors, BadHeaderJsonIsBadInput) {
  TempDir dir;
  expect_bad_input(write_raw(dir, "{\"w\": {", ""), "not valid JSON");
  expect_bad_input(write_raw(dir, "[1, 2]", ""), "not a JSON object");
}

TEST(Safetensors, OffsetsOutOfRangeAreBadInput) {
  TempDir dir;
  expect_bad_input(write_raw(dir, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "1234"),
                   "outside");
  expect_bad_input(write_raw(dir, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", "12345678"),
                   "outside");
}

TEST(Safetensors, ShapeThatDoesNotFillItsOffsetsIsBadInput) {
  TempDir dir;
  expect_bad_input(write_raw(dir, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678"),
                   "do not fill");
}

TEST(Safetensors, OverlappingTensorsAndGapsAreBadInput) {
  TempDir dir;
  expect_bad_input(write_raw(dir,
                             R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                             "12345678"),
                   "overlaps");
  expect_bad_input(write_raw(dir, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", "12345678"),
                   "gap");
  expect_bad_input(write_raw(dir, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "12345678"),
                   "belong to none");
}

TEST(Safetensors, UnknownDtypeIsBadInput) {
  TempDir dir;
  expect_bad_input(write_raw(dir, R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", "1234"),
                   "unknown dtype 'F8_E4M3'");
}

TEST(Safetensors, MalformedEntriesAndMetadataAreBadInput) {
  TempDir dir;
  expect_bad_input(write_raw(dir, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "1234"),
                   "shape");
  expect_bad_input(write_raw(dir, R"({"w":{"dtype":"F32","shape":[1]}})", "1234"), "data_offsets");
  expect_bad_input(write_raw(dir, R"({"__metadata__":{"n":1}})", ""), "metadata `n`");
  expect_bad_input(write_raw(dir, R"({"b":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", "\x02"),
                   "BOOL");
}

TEST(Safetensors, MissingFileIsBadInput) {
  TempDir dir;
  auto [code, message] = error_of([&] { read_safetensors(dir / "none.safetensors"); });
  EXPECT_EQ(code, ExitCode::bad_input) << message;
}

}  // namespace
}  // namespace medcode::model
