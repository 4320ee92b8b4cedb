// The content a manifest pin verifies: a plain file's bytes, a .gz file's uncompressed bytes, or one member
// of a zip archive, so one SHA-256 holds for a file however it is packaged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace medcode::fetch {

struct FileContent {
  std::string sha256;  // of the content, lower-case hex
  std::string member;  // the zip member it came from; empty for a plain or .gz file
  std::int64_t content_bytes = 0;
};

// Hashes the content of `path`. For a zip archive, `member_pattern` (manifest syntax, see member_matches)
// must match exactly one member; with an empty pattern the archive itself is hashed. An unreadable file or
// a member that is missing or ambiguous is Error(integrity) naming the file.
FileContent hash_content(const std::filesystem::path& path, std::string_view member_pattern);

}  // namespace medcode::fetch
