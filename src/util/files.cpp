// File reading (plain, gzip via zlib, zip via libzip) and atomic writes.
#include "medcode/util/files.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>

#include <fmt/ranges.h>

#include "medcode/util/error.h"

namespace medcode::util {

namespace {

struct GzCloser {
  void operator()(gzFile file) const { gzclose(file); }
};
using GzHandle = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

struct ZipCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
using ZipHandle = std::unique_ptr<zip_t, ZipCloser>;

struct ZipFileCloser {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};
using ZipFileHandle = std::unique_ptr<zip_file_t, ZipFileCloser>;

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

ZipHandle open_zip(const fs::path& path) {
  int error_code = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &error_code);
  if (!archive) {
    zip_error_t error;
    zip_error_init_with_code(&error, error_code);
    std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    fail(ExitCode::bad_input, "{}: not a readable zip archive ({})", path.string(), message);
  }
  return ZipHandle(archive);
}

ExpansionLimits g_limits;

std::string size_text(std::uint64_t bytes) {
  if (bytes >= (std::uint64_t{1} << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1 << 30));
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

// The uncompressed size a gzip file's last member records (RFC 1952: ISIZE, modulo 2^32); 0 when unknown.
std::uint64_t gzip_size_hint(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(-4, std::ios::end);
  unsigned char size[4] = {};
  if (!in.read(reinterpret_cast<char*>(size), 4)) return 0;
  return std::uint64_t{size[0]} | std::uint64_t{size[1]} << 8 | std::uint64_t{size[2]} << 16 |
         std::uint64_t{size[3]} << 24;
}

}  // namespace

const ExpansionLimits& expansion_limits() { return g_limits; }
void set_expansion_limits(const ExpansionLimits& limits) { g_limits = limits; }

void check_expansion(std::string_view source, std::uint64_t expanded, std::uint64_t compressed, bool whole) {
  if (whole && expanded > g_limits.max_bytes) {
    fail(ExitCode::bad_input,
         "{}: expands past {} (--max-expanded-size); a decompression bomb or a damaged file? Nothing was imported",
         source, size_text(g_limits.max_bytes));
  }
  if (expanded > g_limits.ratio_floor &&
      static_cast<double>(expanded) > g_limits.max_ratio * static_cast<double>(std::max<std::uint64_t>(compressed, 1))) {
    fail(ExitCode::bad_input,
         "{}: {} compressed bytes expand to more than {} ({:.0f} times; the limit is {:g}, "
         "--max-expansion-ratio); a decompression bomb or a damaged file? Nothing was imported",
         source, compressed, size_text(expanded), static_cast<double>(expanded) / static_cast<double>(std::max<std::uint64_t>(compressed, 1)), g_limits.max_ratio);
  }
}

bool is_gzip_path(const fs::path& path) { return lower_extension(path) == ".gz"; }
bool is_zip_path(const fs::path& path) { return lower_extension(path) == ".zip"; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ExitCode::bad_input, "{}: cannot open ({})", path.string(), std::strerror(errno));
  std::string bytes;
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  if (size > 0) {
    bytes.resize(static_cast<std::size_t>(size));
    in.seekg(0);
    in.read(bytes.data(), size);
  }
  if (!in) fail(ExitCode::bad_input, "{}: read failed", path.string());
  return bytes;
}

std::string read_gzip(const fs::path& path) {
  if (!fs::exists(path)) fail(ExitCode::bad_input, "{}: no such file", path.string());
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (!file) fail(ExitCode::bad_input, "{}: cannot open", path.string());
  gzbuffer(file.get(), 1 << 17);
  // Read in chunks, checking the expansion after each, so that a bomb stops within a chunk of the limit.
  // The gzip trailer's size (modulo 4 GiB; a hint only) lets a real file be read with no reallocation, and
  // only the chunks written are touched, so memory follows what was expanded.
  constexpr std::size_t k_chunk = std::size_t{1} << 20;
  std::string bytes;
  if (std::uint64_t hint = gzip_size_hint(path); hint > 0 && hint <= expansion_limits().max_bytes) {
    bytes.reserve(static_cast<std::size_t>(hint) + k_chunk);
  }
  std::size_t used = 0;
  while (true) {
    bytes.resize(used + k_chunk);
    int n = gzread(file.get(), bytes.data() + used, static_cast<unsigned>(k_chunk));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      fail(ExitCode::bad_input, "{}: corrupt gzip data after {} bytes ({})", path.string(), used, message);
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
    z_off_t consumed = gzoffset(file.get());
    check_expansion(path.string(), used, consumed > 0 ? static_cast<std::uint64_t>(consumed) : 0, true);
  }
  // zlib reports a stream cut short as end of input; gzerror tells the difference.
  int code = Z_OK;
  const char* message = gzerror(file.get(), &code);
  if (code != Z_OK && code != Z_STREAM_END) {
    fail(ExitCode::bad_input, "{}: truncated or corrupt gzip data after {} bytes ({})", path.string(), used,
         message);
  }
  bytes.resize(used);
  return bytes;
}

std::vector<std::string> zip_members(const fs::path& path) {
  ZipHandle archive = open_zip(path);
  std::vector<std::string> names;
  zip_int64_t n = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(archive.get(), static_cast<zip_uint64_t>(i), 0);
    if (name && name[0] != '\0' && name[std::strlen(name) - 1] != '/') names.emplace_back(name);
  }
  return names;
}

std::string read_zip_member(const fs::path& path, const std::string& member) {
  ZipHandle archive = open_zip(path);
  zip_stat_t stat;
  if (zip_stat(archive.get(), member.c_str(), 0, &stat) != 0) {
    fail(ExitCode::bad_input, "{}: no member named {}", path.string(), member);
  }
  // The sizes the archive declares are checked before anything is expanded; libzip stops at the declared
  // size and checks the CRC, so a member cannot expand past it.
  if ((stat.valid & ZIP_STAT_SIZE) && (stat.valid & ZIP_STAT_COMP_SIZE)) {
    check_expansion(path.string() + ":" + member, stat.size, stat.comp_size, true);
  }
  ZipFileHandle file(zip_fopen(archive.get(), member.c_str(), 0));
  if (!file) fail(ExitCode::bad_input, "{}:{}: cannot open member", path.string(), member);
  std::string bytes(static_cast<std::size_t>(stat.size), '\0');
  zip_int64_t n = zip_fread(file.get(), bytes.data(), stat.size);
  if (n < 0 || static_cast<zip_uint64_t>(n) != stat.size) {
    fail(ExitCode::bad_input, "{}:{}: truncated or corrupt member", path.string(), member);
  }
  return bytes;
}

Input read_input(const fs::path& path, const MemberPicker& pick) {
  if (is_gzip_path(path)) return {path.string(), read_gzip(path)};
  if (!is_zip_path(path)) return {path.string(), read_file(path)};
  std::vector<std::string> members = zip_members(path);
  std::vector<std::string> chosen;
  for (const std::string& name : members) {
    if (!pick || pick(name)) chosen.push_back(name);
  }
  if (chosen.size() != 1) {
    fail(ExitCode::bad_input, "{}: expected one matching member in the archive, found {} (members: {})",
         path.string(), chosen.size(), fmt::join(members, ", "));
  }
  return {path.string() + ":" + chosen.front(), read_zip_member(path, chosen.front())};
}

AtomicFile::AtomicFile(fs::path path) : m_path(std::move(path)) {
  m_tmp_path = m_path;
  m_tmp_path += ".tmp-" + std::to_string(::getpid());
  std::error_code error;
  if (fs::is_directory(fs::symlink_status(m_path, error)))
    fail(ExitCode::usage, "{}: is a folder; name the file to write", m_path.string());
  if (m_path.has_parent_path()) {
    fs::create_directories(m_path.parent_path(), error);
    if (error) {
      fail(exit_code_of_errno(error.value()), "{}: cannot create its folder ({})", m_path.string(),
           error.message());
    }
  }
  // A new file of our own: never through a link planted at the temporary name.
  ::unlink(m_tmp_path.c_str());
  int fd = ::open(m_tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd >= 0) m_file = ::fdopen(fd, "wb");
  if (!m_file) {
    int cause = errno;
    if (fd >= 0) ::close(fd);
    fail(exit_code_of_errno(cause), "{}: cannot write ({})", m_path.string(), std::strerror(cause));
  }
}

AtomicFile::~AtomicFile() {
  if (m_file) std::fclose(m_file);
  if (!m_committed) {
    std::error_code ignored;
    fs::remove(m_tmp_path, ignored);
  }
}

void AtomicFile::write(std::string_view bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), m_file) != bytes.size()) {
    int cause = errno;
    fail(exit_code_of_errno(cause), "{}: cannot write ({}); the file was left as it was", m_path.string(),
         std::strerror(cause));
  }
}

void AtomicFile::commit() {
  if (std::fflush(m_file) != 0 || ::fsync(::fileno(m_file)) != 0) {
    int cause = errno;
    fail(exit_code_of_errno(cause), "{}: cannot write ({}); the file was left as it was", m_path.string(),
         std::strerror(cause));
  }
  int closed = std::fclose(m_file);
  m_file = nullptr;
  if (closed != 0) {
    int cause = errno;
    fail(exit_code_of_errno(cause), "{}: cannot write ({}); the file was left as it was", m_path.string(),
         std::strerror(cause));
  }
  if (::rename(m_tmp_path.c_str(), m_path.c_str()) != 0) {
    int cause = errno;
    fail(exit_code_of_errno(cause), "{}: cannot replace ({})", m_path.string(), std::strerror(cause));
  }
  m_committed = true;
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

void replace_directory(const fs::path& built, const fs::path& target) {
  std::error_code error;
  if (!fs::exists(target, error)) {
    fs::rename(built, target);
    return;
  }
  fs::path old = target;
  old += fmt::format(".old-{}", ::getpid());
  fs::remove_all(old, error);
#ifdef RENAME_EXCHANGE
  if (::renameat2(AT_FDCWD, built.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(built);  // now the old folder
    return;
  }
#endif
  // No atomic exchange here (an older kernel or a file system without it): a reader may find no folder
  // for the moment between the two renames, never a half-written one.
  fs::rename(target, old);
  fs::rename(built, target);
  fs::remove_all(old);
}

}  // namespace medcode::util
