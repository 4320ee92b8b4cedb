// Reading inputs whatever their packaging (plain, gzip, zip) and writing files atomically.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::util {

namespace fs = std::filesystem;

// How far compressed input may expand, so that a decompression bomb stops early with flat memory. An input
// fails (Error(bad_input) naming it) once its expanded bytes pass max_bytes (readers that hold a whole file:
// code sets, downloads), or pass max_ratio times the compressed bytes read so far once past ratio_floor
// (every reader, streaming ones too: a real release compresses about 10 to 15 times).
struct ExpansionLimits {
  std::uint64_t max_bytes = std::uint64_t{1} << 30;     // 1 GiB: about 100 times the largest release file
  double max_ratio = 100;
  std::uint64_t ratio_floor = std::uint64_t{64} << 20;  // 64 MiB
};
// The limits of this process (set once, from the command line, before any input is read).
const ExpansionLimits& expansion_limits();
void set_expansion_limits(const ExpansionLimits& limits);
// Error(bad_input) when `expanded` bytes from `compressed` bytes break the limits; `whole` for readers that
// hold the whole input in memory (the byte cap applies to them only).
void check_expansion(std::string_view source, std::uint64_t expanded, std::uint64_t compressed, bool whole);

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
