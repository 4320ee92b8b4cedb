// Reading inputs whatever their packaging (plain, gzip, zip) and writing files atomically.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::util {

namespace fs = std::filesystem;

// The whole file as bytes; throws Error(bad_input) naming the path when it cannot be read.
std::string read_file(const fs::path& path);

// Bytes of a gzip file (one or more members); Error(bad_input) on a truncated or corrupt stream.
std::string read_gzip(const fs::path& path);

// Names of the members of a zip archive, in archive order.
std::vector<std::string> zip_members(const fs::path& path);

// Bytes of one member of a zip archive.
std::string read_zip_member(const fs::path& path, const std::string& member);

// A logical input: a plain file, a .gz (decompressed), or a .zip; for a zip, `pick` chooses the member
// (the only member when pick is empty and the archive holds exactly one file).
struct Input {
  std::string name;     // path, or "archive.zip:member" for a zip member
  std::string content;  // decompressed bytes
};
using MemberPicker = std::function<bool(std::string_view member_name)>;
Input read_input(const fs::path& path, const MemberPicker& pick = {});

bool is_gzip_path(const fs::path& path);
bool is_zip_path(const fs::path& path);

// Writes to "<path>.tmp-<pid>" and renames into place on commit(); the temporary file is removed if the
// object dies uncommitted, so a reader never sees a half-written file.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  void commit();
  const fs::path& temporary_path() const { return m_tmp_path; }

 private:
  fs::path m_path;
  fs::path m_tmp_path;
  std::FILE* m_file = nullptr;
  bool m_committed = false;
};

void write_file_atomic(const fs::path& path, std::string_view bytes);

// Puts the finished folder `built` at `target` in one step: where the file system allows it the two are
// exchanged atomically (renameat2 RENAME_EXCHANGE), else the old folder is moved aside first; the old
// folder is removed only once the new one is in place. `built` must be on the same file system.
void replace_directory(const fs::path& built, const fs::path& target);

}  // namespace medcode::util
