// End-to-end tests of option precedence: flag > MEDCODE_* environment > config file > default.
#include <gtest/gtest.h>

#include "medcode/util/files.h"
#include "support/medcode_process.h"

namespace medcode {
namespace {

using testing::fixture;
using testing::run_medcode;
using testing::TempDir;

class Configuration : public ::testing::Test {
 protected:
  void SetUp() override {
    util::write_file_atomic(m_dir / "medcode.yaml", "db: from-config.db\nimport:\n  icd10cm:\n    year: 2023\n");
  }
  testing::ProcessResult import(std::vector<std::string> global, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> args = std::move(global);
    for (const char* arg : {"import", "icd10cm"}) args.emplace_back(arg);
    args.push_back(fixture("icd10cm/tabular_mini.xml").string());
    env.emplace("MEDCODE_DB", env.count("MEDCODE_DB") ? env["MEDCODE_DB"] : "");
    return run_medcode(args, m_dir.path(), env);
  }
  TempDir m_dir;
};

TEST_F(Configuration, TheConfigFileInTheWorkingDirectoryFillsOptions) {
  auto result = import({});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(std::filesystem::exists(m_dir / "from-config.db"));
}

TEST_F(Configuration, TheEnvironmentOutranksTheConfigFile) {
  auto result = import({}, {{"MEDCODE_DB", "from-env.db"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(std::filesystem::exists(m_dir / "from-env.db"));
  EXPECT_FALSE(std::filesystem::exists(m_dir / "from-config.db"));
}

TEST_F(Configuration, TheCommandLineOutranksTheEnvironment) {
  auto result = import({"--db", "from-flag.db"}, {{"MEDCODE_DB", "from-env.db"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(std::filesystem::exists(m_dir / "from-flag.db"));
  EXPECT_FALSE(std::filesystem::exists(m_dir / "from-env.db"));
}

TEST_F(Configuration, ShowConfigTellsEachSettingsSourceAndRunsNothing) {
  auto result = run_medcode({"-v", "--show-config", "import", "icd10cm", "--year", "2022"}, m_dir.path(),
                            {{"MEDCODE_DB", ""}, {"MEDCODE_LOG_FILE", "from-env.log"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("db = from-config.db  (config file)"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("log-file = from-env.log  (environment MEDCODE_LOG_FILE)"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("verbose = 1  (command line)"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("import.icd10cm.year = 2022  (command line)"), std::string::npos) << result.out;
  EXPECT_FALSE(std::filesystem::exists(m_dir / "from-config.db")) << "nothing ran";
}

// train's own --config (the model sizes) shares its name with the root's --config (the file): each is told
// apart by the command it follows.
TEST_F(Configuration, ShowConfigTellsTrainsModelConfigFromTheDefaultTheFileAndTheCommandLine) {
  util::write_file_atomic(m_dir / "sizes.yaml", "train:\n  config: tiny\n");
  util::write_file_atomic(m_dir / "other.yaml", "train:\n  max-steps: 5\n");
  auto show = [&](std::vector<std::string> args) {
    auto result = run_medcode(args, m_dir.path(), {{"MEDCODE_DB", ""}, {"MEDCODE_CONFIG", ""}});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
  };
  std::string by_default = show({"--config", "other.yaml", "train", "--out", "m", "--show-config"});
  EXPECT_NE(by_default.find("\ntrain.config = small  (default)\n"), std::string::npos) << by_default;
  EXPECT_NE(by_default.find("\nconfig = other.yaml  (command line)\n"), std::string::npos) << by_default;
  EXPECT_NE(by_default.find("\ntrain.max-steps = 5  (config file)\n"), std::string::npos) << by_default;
  std::string from_file = show({"--config", "sizes.yaml", "train", "--out", "m", "--show-config"});
  EXPECT_NE(from_file.find("\ntrain.config = tiny  (config file)\n"), std::string::npos) << from_file;
  std::string from_flag = show({"train", "--config", "tiny", "--out", "m", "--show-config"});
  EXPECT_NE(from_flag.find("\ntrain.config = tiny  (command line)\n"), std::string::npos) << from_flag;
  EXPECT_NE(from_flag.find("\nconfig = medcode.yaml  (default)\n"), std::string::npos) << from_flag;
  auto from_env =
      run_medcode({"train", "--out", "m", "--show-config"}, m_dir.path(),
                  {{"MEDCODE_DB", ""}, {"MEDCODE_CONFIG", ""}, {"MEDCODE_TOKEN_SET", "from-env"}});
  ASSERT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_NE(from_env.out.find("\ntrain.token-set = from-env  (environment MEDCODE_TOKEN_SET)\n"),
            std::string::npos)
      << from_env.out;
}

// The file named by MEDCODE_CONFIG fills train's own --config: only an option's own variable outranks the file,
// not a variable that merely shares the key's name.
TEST_F(Configuration, AFileNamedByTheEnvironmentFillsAnOptionNamedLikeItsVariable) {
  util::write_file_atomic(m_dir / "sizes.yaml", "train:\n  config: tiny\n");
  auto result = run_medcode({"train", "--out", "m", "--show-config"}, m_dir.path(),
                            {{"MEDCODE_DB", ""}, {"MEDCODE_CONFIG", (m_dir / "sizes.yaml").string()}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("\ntrain.config = tiny  (config file)\n"), std::string::npos) << result.out;

  auto missing = run_medcode({"train", "--out", "m", "--show-config"}, m_dir.path(),
                             {{"MEDCODE_DB", ""}, {"MEDCODE_CONFIG", (m_dir / "missing.yaml").string()}});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("missing.yaml"), std::string::npos) << missing.err;
}

TEST_F(Configuration, AMisspeltKeyIsAUsageError) {
  util::write_file_atomic(m_dir / "bad.yaml", "import:\n  icd10cm:\n    yeer: 2023\n");
  auto result = import({"--config", "bad.yaml"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown key 'import.icd10cm.yeer'"), std::string::npos) << result.err;
}

TEST_F(Configuration, AConfigFileThatDoesNotParseIsNamedInTheError) {
  util::write_file_atomic(m_dir / "broken.yaml", "models:\n  m: [oops\n");
  auto result = import({"--config", (m_dir / "broken.yaml").string()});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("config file " + (m_dir / "broken.yaml").string() + ": "), std::string::npos)
      << result.err;
}

TEST(CommandLine, AnUnknownOptionIsAUsageError) {
  auto result = run_medcode({"import", "icd10cm", "--no-such-option"});
  EXPECT_EQ(result.exit_code, 2);
}

TEST(CommandLine, VersionAndHelpExitZero) {
  auto version = run_medcode({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("medcode "), std::string::npos);
  auto help = run_medcode({"import", "icd10cm", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--year"), std::string::npos);
}

}  // namespace
}  // namespace medcode

namespace medcode {
namespace {

TEST(Logging, LogFileGetsDebugDetailAndQuietKeepsStderrFreeOfInfo) {
  TempDir dir;
  auto log = dir / "medcode.log";
  auto result = run_medcode({"--db", (dir / "s.db").string(), "--quiet", "--log-file", log.string(), "import",
                             "icd10cm", testing::fixture("icd10cm/tabular_mini.xml").string(),
                             testing::fixture("icd10cm/order_mini.txt").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "") << "--quiet leaves only errors on stderr";
  std::string text = testing::read_text(log);
  EXPECT_NE(text.find("debug"), std::string::npos) << text;
  EXPECT_NE(text.find("warning"), std::string::npos) << "the order-file cross-check warns: " << text;
}

}  // namespace
}  // namespace medcode
