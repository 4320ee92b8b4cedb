// File reading (plain, gzip via zlib, zip via libzip) and atomic writes.
#include "medcode/util/files.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
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

}  // namespace

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
  std::string bytes;
  std::size_t used = 0;
  bytes.resize(1 << 20);
  while (true) {
    if (bytes.size() - used < (1 << 16)) bytes.resize(bytes.size() * 2);
    int n = gzread(file.get(), bytes.data() + used, static_cast<unsigned>(bytes.size() - used));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      fail(ExitCode::bad_input, "{}: corrupt gzip data after {} bytes ({})", path.string(), used, message);
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
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
  if (m_path.has_parent_path()) fs::create_directories(m_path.parent_path());
  // A new file of our own: never through a link planted at the temporary name.
  ::unlink(m_tmp_path.c_str());
  int fd = ::open(m_tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd >= 0) m_file = ::fdopen(fd, "wb");
  if (!m_file) {
    if (fd >= 0) ::close(fd);
    fail(ExitCode::internal, "{}: cannot create ({})", m_tmp_path.string(), std::strerror(errno));
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
    fail(ExitCode::internal, "{}: write failed ({})", m_tmp_path.string(), std::strerror(errno));
  }
}

void AtomicFile::commit() {
  if (std::fflush(m_file) != 0 || ::fsync(::fileno(m_file)) != 0) {
    fail(ExitCode::internal, "{}: flush failed ({})", m_tmp_path.string(), std::strerror(errno));
  }
  std::fclose(m_file);
  m_file = nullptr;
  fs::rename(m_tmp_path, m_path);
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
