// Streams a release's codes as CODE<TAB>DESCRIPTION lines in code order, buffered for speed.
#include "medcode/codes/export.h"

#include <string>

namespace medcode::codes {

namespace {

constexpr std::size_t k_flush_bytes = 1 << 16;

void append_field(std::string& buffer, const std::string& text) {
  for (char c : text) buffer.push_back(c == '\t' || c == '\n' || c == '\r' ? ' ' : c);
}

}  // namespace

std::int64_t export_codes(store::Database& db, const ReleaseInfo& release, const ExportOptions& options,
                          std::ostream& out) {
  // The UNIQUE (release_id, code) index hands rows over already in code order.
  store::Statement statement = db.prepare(
      "SELECT code, description FROM codes WHERE release_id = ? AND (? = 0 OR billable = 1)"
      " AND (? = 1 OR kind <> 'modifier') ORDER BY code");
  statement.bind_all(release.id, options.billable_only ? 1 : 0, options.include_modifiers ? 1 : 0);
  std::string buffer;
  buffer.reserve(k_flush_bytes * 2);
  std::int64_t n_lines = 0;
  while (statement.step()) {
    append_field(buffer, statement.column_text(0));
    buffer.push_back('\t');
    append_field(buffer, statement.column_text(1));
    buffer.push_back('\n');
    ++n_lines;
    if (buffer.size() >= k_flush_bytes) {
      out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
    }
  }
  out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  out.flush();
  return n_lines;
}

}  // namespace medcode::codes
