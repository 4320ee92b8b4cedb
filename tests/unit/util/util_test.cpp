// Tests of the util module: encodings, compressed inputs, atomic files, hashing and file locks.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "medcode/util/error.h"
#include "medcode/util/file_lock.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"
#include "medcode/util/text.h"
#include "support/medcode_process.h"

namespace medcode::util {
namespace {

using medcode::testing::read_text;
using medcode::testing::shared_data;
using medcode::testing::TempDir;

TEST(Text, DecodesWindows1252BytesToUtf8) {
  EXPECT_EQ(cp1252_to_utf8("caf\xE9"), "caf\xC3\xA9");
  EXPECT_EQ(cp1252_to_utf8("don\x92t"), "don\xE2\x80\x99t");
  EXPECT_EQ(cp1252_to_utf8("\x80"), "\xE2\x82\xAC");
  EXPECT_EQ(to_utf8("already \xC3\xA9"), "already \xC3\xA9") << "valid UTF-8 passes through";
  EXPECT_FALSE(is_valid_utf8("caf\xE9"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));
  EXPECT_TRUE(is_valid_utf8("\xE2\x80\x99"));
}

TEST(Text, CollapsesWhitespaceAndSplitsLines) {
  EXPECT_EQ(collapse_whitespace("  a \n\t b  "), "a b");
  auto lines = split_lines("one\r\ntwo\nthree");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "one");
  EXPECT_EQ(lines[2], "three");
}

TEST(Hash, ComputesKnownSha256Digests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Files, ReadsGzipAndZipInputs) {
  Input tabular = read_input(shared_data("cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz"));
  EXPECT_EQ(tabular.content.substr(0, 5), "<?xml");
  EXPECT_GT(tabular.content.size(), 9'000'000u);
  auto zip = shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip");
  auto members = zip_members(zip);
  EXPECT_NE(std::find(members.begin(), members.end(), "HCPC2019_CONTR_ANWEB.txt"), members.end());
  Input annual = read_input(zip, [](std::string_view name) { return name == "HCPC2019_README.txt"; });
  EXPECT_EQ(annual.name, zip.string() + ":HCPC2019_README.txt");
  EXPECT_FALSE(annual.content.empty());
}

TEST(Files, ReportsATruncatedGzipAsBadInput) {
  TempDir dir;
  std::string bytes = read_file(shared_data("cms/icd10cm/2023/icd10cm_index_2023.xml.gz"));
  write_file_atomic(dir / "cut.xml.gz", std::string_view(bytes).substr(0, bytes.size() / 3));
  try {
    read_gzip(dir / "cut.xml.gz");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("cut.xml.gz"), std::string::npos);
  }
}

TEST(Files, ALinkPlantedAtTheTemporaryNameDoesNotRedirectTheWrite) {
  TempDir dir;
  std::filesystem::path precious = dir / "precious.txt";
  std::ofstream(precious) << "keep me";
  std::filesystem::path out = dir / "out.txt";
  std::filesystem::create_symlink(precious, out.string() + ".tmp-" + std::to_string(::getpid()));
  write_file_atomic(out, "written");
  std::ifstream kept(precious);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(kept)), std::istreambuf_iterator<char>()), "keep me");
  std::ifstream written(out);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(written)), std::istreambuf_iterator<char>()), "written");
  EXPECT_FALSE(std::filesystem::is_symlink(out));
}

TEST(Files, AtomicFileLeavesNothingBehindWhenNotCommitted) {
  TempDir dir;
  {
    AtomicFile file(dir / "out.txt");
    file.write("partial");
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "out.txt"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  write_file_atomic(dir / "out.txt", "whole");
  EXPECT_EQ(read_file(dir / "out.txt"), "whole");
}

TEST(Files, ReplaceDirectorySwapsAFinishedFolderIntoPlace) {
  TempDir dir;
  auto build = [&](const std::string& name, const std::string& content) {
    std::filesystem::create_directories(dir / name);
    write_file_atomic(dir / name / "a.txt", content);
    return dir / name;
  };
  replace_directory(build("new1", "first"), dir / "out");
  EXPECT_EQ(read_file(dir / "out/a.txt"), "first");
  write_file_atomic(dir / "out/stale.txt", "from the old folder");
  replace_directory(build("new2", "second"), dir / "out");
  EXPECT_EQ(read_file(dir / "out/a.txt"), "second");
  EXPECT_FALSE(std::filesystem::exists(dir / "out/stale.txt"));
  EXPECT_FALSE(std::filesystem::exists(dir / "new2"));
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    entries += entry.path().filename() != "new1";
  EXPECT_EQ(entries, 1u);  // only the result: no old copy left behind
}

TEST(Text, SplitsOnASeparatorAndOnWhitespace) {
  EXPECT_EQ(split("a,,b", ','), (std::vector<std::string_view>{"a", "", "b"}));
  EXPECT_EQ(split("", ','), (std::vector<std::string_view>{""}));
  EXPECT_EQ(split_whitespace("  a\tb\n c "), (std::vector<std::string_view>{"a", "b", "c"}));
}

TEST(FileLock, IsReentrantWithinAProcessAndRemovedWhenTheLastHoldEnds) {
  TempDir dir;
  std::filesystem::path path = dir / "store.db.lock";
  {
    FileLock outer(path);
    EXPECT_EQ(FileLock::holds_in_this_process(path), 1);
    {
      FileLock inner(dir.path() / "." / "store.db.lock");  // the same file by another spelling
      EXPECT_EQ(FileLock::holds_in_this_process(path), 2);
      EXPECT_FALSE(inner.stale_holder());
    }
    EXPECT_EQ(FileLock::holds_in_this_process(path), 1);
    EXPECT_NE(read_text(path).find("pid " + std::to_string(::getpid())), std::string::npos);
  }
  EXPECT_EQ(FileLock::holds_in_this_process(path), 0);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(FileLock, AnotherProcessIsRefusedWithThePolicyCodeAndTheHoldersPid) {
  TempDir dir;
  std::filesystem::path path = dir / "store.db.lock";
  FileLock held(path);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      FileLock second(path, "another medcode process holds the job x");
      ::_exit(0);
    } catch (const Error& error) {
      std::string message = error.what();
      bool names_holder =
          message.find("holds the job x (pid " + std::to_string(::getppid())) != std::string::npos;
      ::_exit(error.code() == ExitCode::policy && names_holder ? 6 : 1);
    }
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 6);
}

TEST(FileLock, ASymlinkOrAHardLinkAtTheLockPathIsRefusedAndItsTargetLeftAlone) {
  TempDir dir;
  std::filesystem::path precious = dir / "precious.txt";
  std::ofstream(precious) << "keep me";
  std::filesystem::path symlinked = dir / "a.db.lock";
  std::filesystem::create_symlink(precious, symlinked);
  std::filesystem::path hard = dir / "b.db.lock";
  std::filesystem::create_hard_link(precious, hard);
  for (const auto& path : {symlinked, hard}) {
    try {
      FileLock lock(path);
      ADD_FAILURE() << path << " was taken";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ExitCode::policy);
      EXPECT_NE(std::string(error.what()).find(path.string()), std::string::npos) << error.what();
    }
    EXPECT_EQ(FileLock::holds_in_this_process(path), 0);
  }
  std::ifstream in(precious);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "keep me");
}

TEST(FileLock, ALockFileLeftByADeadHolderIsTakenOverAndNamed) {
  TempDir dir;
  std::filesystem::path path = dir / "store.db.lock";
  std::ofstream(path) << "pid 999999 since 2026-01-01T00:00:00Z\n";
  FileLock lock(path);
  ASSERT_TRUE(lock.stale_holder());
  EXPECT_EQ(*lock.stale_holder(), "pid 999999 since 2026-01-01T00:00:00Z");
}

}  // namespace
}  // namespace medcode::util
