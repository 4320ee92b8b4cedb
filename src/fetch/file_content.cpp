// Hashing what a file holds rather than how it is wrapped (plain, gzip or a zip member).
#include "medcode/fetch/file_content.h"

#include <fmt/ranges.h>

#include <vector>

#include "medcode/fetch/manifest.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"

namespace medcode::fetch {

namespace {

std::string find_member(const std::filesystem::path& path, std::string_view pattern) {
  std::vector<std::string> members = util::zip_members(path);
  std::vector<std::string> matching;
  for (const auto& name : members) {
    if (member_matches(pattern, name)) matching.push_back(name);
  }
  if (matching.size() == 1) return matching.front();
  if (matching.empty()) {
    fail(ExitCode::integrity, "{}: no member matches '{}' (members: {})", path.string(), pattern,
         fmt::join(members, ", "));
  }
  fail(ExitCode::integrity, "{}: several members match '{}': {}", path.string(), pattern,
       fmt::join(matching, ", "));
}

FileContent hash_bytes(std::string_view bytes, std::string member) {
  return {util::sha256_hex(bytes), std::move(member), static_cast<std::int64_t>(bytes.size())};
}

}  // namespace

FileContent hash_content(const std::filesystem::path& path, std::string_view member_pattern) {
  try {
    if (util::is_zip_path(path) && !member_pattern.empty()) {
      std::string member = find_member(path, member_pattern);
      return hash_bytes(util::read_zip_member(path, member), member);
    }
    if (util::is_gzip_path(path)) return hash_bytes(util::read_gzip(path), {});
    return {util::sha256_file_hex(path), {}, static_cast<std::int64_t>(std::filesystem::file_size(path))};
  } catch (const Error& e) {
    // A file that cannot be read whole is as untrustworthy as one with the wrong checksum.
    if (e.code() == ExitCode::bad_input) throw Error(ExitCode::integrity, e.what());
    throw;
  } catch (const std::filesystem::filesystem_error& e) {
    fail(ExitCode::integrity, "{}: cannot read ({})", path.string(), e.code().message());
  }
}

}  // namespace medcode::fetch
