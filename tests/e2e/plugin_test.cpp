// End-to-end tests of the model plugin: the binary links no LibTorch; a copy of it with no plugin in reach
// still runs every command that does not train or predict, and those that do exit 2 naming the plugin; a
// plugin built for another medcode is refused; MEDCODE_PLUGIN_DIR points the binary at a plugin.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "support/medcode_process.h"
#include "support/shared_store.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::run_medcode;
using testing::run_medcode_at;
using testing::TempDir;

std::string command_output(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return {};
  std::string out;
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe.get()))
    out.append(buffer.data(), n);
  return out;
}

TEST(ModelPlugin, TheBinaryLinksNeitherLibTorchNorLibcurlNorXGBoostNorWhatTheyBring) {
  std::string libraries = command_output(std::string("ldd ") + MEDCODE_BINARY);
  ASSERT_NE(libraries.find("libsqlite3"), std::string::npos) << libraries;  // ldd did run
  for (const char* heavy : {"libtorch", "libc10", "opencv", "dnnl", "protobuf", "libgomp", "sentencepiece",
                            "libcurl", "gnutls", "libxgboost", "libdmlc"})
    EXPECT_EQ(libraries.find(heavy), std::string::npos) << heavy << " in\n" << libraries;
}

// A copy of the binary in a folder of its own, where no plugin is: as on a machine where only the core
// tool is installed.
class BinaryWithoutPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(m_dir / "bin");
    fs::copy_file(MEDCODE_BINARY, m_binary);
  }
  ProcessResult medcode(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), {"--db", (m_dir / "m.db").string()});
    env.emplace(util_plugin_dir_env, "");
    return run_medcode_at(m_binary, args, m_dir.path(), env);
  }
  static void expect_names_the_plugin(const ProcessResult& result) {
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("libmedcode_torch.so"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("MEDCODE_PLUGIN_DIR"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << "one line: " << result.err;
  }

  static constexpr const char* util_plugin_dir_env = "MEDCODE_PLUGIN_DIR";
  TempDir m_dir;
  fs::path m_binary = m_dir / "bin" / "medcode";
};

TEST_F(BinaryWithoutPlugin, RunsEveryCommandThatNeedsNoModel) {
  ProcessResult version = run_medcode_at(m_binary, {"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out.rfind("medcode ", 0), 0U) << version.out;
  ProcessResult help = run_medcode_at(m_binary, {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("train"), std::string::npos) << "the model commands are listed all the same";

  ASSERT_EQ(medcode({"import", "icd10cm", "--year", "2023", fixture("icd10cm/tabular_mini.xml").string()})
                .exit_code,
            0);
  ProcessResult shown = medcode({"codes", "show", "S06.0X1A"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("S06.0X1A"), std::string::npos);
  ProcessResult evaluated =
      medcode({"evaluate", "--dataset", fixture("evaluate/descriptions-to-codes.golden.test.jsonl").string(),
               "--baseline", "majority"});
  EXPECT_EQ(evaluated.exit_code, 0) << evaluated.err;
}

#ifdef MEDCODE_HAVE_SENTENCEPIECE
TEST_F(BinaryWithoutPlugin, TokenizesWithoutTheModelPlugin) {
  ProcessResult tokenized = medcode({"tokenize", "--dataset", fixture("tokenize/export").string(), "--out",
                                     "tokenizer", "--vocab-size", "250", "--descriptions", "none"});
  EXPECT_EQ(tokenized.exit_code, 0) << tokenized.err;
  EXPECT_TRUE(fs::exists(m_dir / "tokenizer" / "tokenizer.model"));
}
#endif

TEST_F(BinaryWithoutPlugin, ModelCommandsExitTwoNamingThePlugin) {
  // Refused before any coder scores, so bm25 scores nothing either.
  fs::copy_file(testing::icd10cm_2023_store(), m_dir / "m.db");
  ASSERT_EQ(medcode({"generate", "--limit", "5"}).exit_code, 0);
  expect_names_the_plugin(medcode({"score", "--coder", "bm25", "--coder", "model:base"}));
  ProcessResult rescored = medcode({"--json", "score", "--coder", "bm25"});
  ASSERT_EQ(rescored.exit_code, 0) << rescored.err;
  EXPECT_NE(rescored.out.find("\"already_scored\": 0"), std::string::npos) << rescored.out;
  expect_names_the_plugin(medcode({"train", "--stage", "base", "--out", "base"}));
  EXPECT_FALSE(fs::exists(m_dir / "base"));
  expect_names_the_plugin(medcode({"predict", "--model", "base", "--text", "chest pain"}));
  expect_names_the_plugin(
      medcode({"evaluate", "--dataset", fixture("evaluate/descriptions-to-codes.golden.test.jsonl").string(),
               "--model", "base"}));
  // Refused before any stage runs: nothing fetched, generated or written.
  expect_names_the_plugin(medcode({"run", "--target-size", "5", "--train", "--out", "out"}));
  EXPECT_FALSE(fs::exists(m_dir / "out"));
}

TEST(ModelPlugin, APluginBuiltForAnotherMedcodeIsRefused) {
  TempDir dir;
  ProcessResult result =
      run_medcode({"--db", (dir / "m.db").string(), "train", "--stage", "base", "--out", "base"}, dir.path(),
                  {{"MEDCODE_PLUGIN_DIR", MEDCODE_FOREIGN_PLUGIN_DIR}});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("0.0.0-foreign"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("interface 999"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(dir / "base"));
}

#ifdef MEDCODE_HAVE_MODEL
TEST_F(BinaryWithoutPlugin, FindsThePluginInThePluginDirVariable) {
  fs::path built_plugin_dir = fs::path(MEDCODE_BINARY).parent_path();
  ProcessResult result = medcode({"train", "--stage", "base", "--out", "base", "--token-set", "none"},
                                 {{"MEDCODE_PLUGIN_DIR", built_plugin_dir.string()}});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(result.err.find("libmedcode_torch.so"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("token set"), std::string::npos)
      << "the plugin ran and found no token set: " << result.err;
}
#endif

}  // namespace
}  // namespace medcode
