// Tests of plugin search and loading: the search order, and a failed load keeping every place tried.
#include "medcode/util/plugin.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "support/medcode_process.h"

namespace medcode::util {
namespace {

namespace fs = std::filesystem;
using medcode::testing::TempDir;

class PluginDirVariable : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* old = std::getenv(k_plugin_dir_env)) m_saved = old;
  }
  void TearDown() override {
    if (m_saved) {
      ::setenv(k_plugin_dir_env, m_saved->c_str(), 1);
    } else {
      ::unsetenv(k_plugin_dir_env);
    }
  }
  std::optional<std::string> m_saved;
};

TEST_F(PluginDirVariable, IsSearchedFirstThenTheExecutablesFolderThenTheInstallLayouts) {
  ::setenv(k_plugin_dir_env, "/opt/plugins", 1);
  std::vector<fs::path> candidates = plugin_candidates("libx.so");
  ASSERT_GE(candidates.size(), 3U);
  EXPECT_EQ(candidates[0], fs::path("/opt/plugins/libx.so"));
  fs::path exe_dir = fs::read_symlink("/proc/self/exe").parent_path();
  EXPECT_EQ(candidates[1], exe_dir / "libx.so");
  EXPECT_EQ(candidates[2], (exe_dir / ".." / "lib" / "medcode" / "libx.so").lexically_normal());
  EXPECT_EQ(candidates.back().filename(), "libx.so");
  EXPECT_EQ(candidates.back().parent_path().filename(), "medcode") << "the install prefix's lib/medcode";
}

TEST_F(PluginDirVariable, AnEmptyVariableIsNoPlace) {
  ::setenv(k_plugin_dir_env, "", 1);
  for (const fs::path& candidate : plugin_candidates("libx.so"))
    EXPECT_NE(candidate, fs::path("libx.so")) << "not the working directory";
}

TEST(OpenPlugin, SaysForEachPlaceWhyItWasNotLoaded) {
  TempDir dir;
  std::ofstream(dir / "libbroken.so") << "not an ELF file";
  std::vector<std::string> tried;
  auto opened = open_plugin({dir / "libmissing.so", dir / "libbroken.so"}, RTLD_NOW | RTLD_LOCAL, tried);
  EXPECT_FALSE(opened);
  ASSERT_EQ(tried.size(), 2U);
  EXPECT_NE(tried[0].find("(missing)"), std::string::npos) << tried[0];
  EXPECT_NE(tried[1].find("libbroken.so ("), std::string::npos) << tried[1];
  EXPECT_EQ(tried[1].find("(missing)"), std::string::npos) << tried[1];
}

TEST(OpenPlugin, OpensTheFirstThatLoadsAndFindsItsSymbols) {
  std::vector<std::string> tried;
  // The C library is a shared object every test process has.
  fs::path libc;
  for (const char* path : {"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                           "/lib64/libc.so.6", "/usr/lib/libc.so.6"}) {
    if (fs::exists(path)) {
      libc = path;
      break;
    }
  }
  if (libc.empty()) GTEST_SKIP() << "no libc.so.6 at a known path";
  auto opened = open_plugin({"/nonexistent/libnone.so", libc}, RTLD_NOW | RTLD_LOCAL, tried);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->path, libc);
  EXPECT_NE(plugin_symbol(*opened, "strlen"), nullptr);
  EXPECT_EQ(plugin_symbol(*opened, "medcode_no_such_symbol"), nullptr);
  EXPECT_EQ(tried.size(), 1U);
}

}  // namespace
}  // namespace medcode::util
