// Streams a release's codes in code order, buffered for speed: plain CODE<TAB>DESCRIPTION lines, or rows with
// the code's hierarchy as TSV, CSV (RFC 4180: https://www.rfc-editor.org/rfc/rfc4180) or JSON Lines
// (https://jsonlines.org).
#include "medcode/codes/export.h"

#include <nlohmann/json.hpp>

#include <array>
#include <functional>
#include <string>

#include "medcode/util/files.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

constexpr std::size_t k_flush_bytes = 1 << 16;

using Sink = std::function<void(std::string_view)>;

// The row of k_export_columns for one code; missing values (no parent, no section) are nullopt.
using Row = std::array<std::optional<std::string>, std::size(k_export_columns)>;
constexpr std::size_t k_billable_column = 3;

void append_flat(std::string& buffer, std::string_view text) {
  for (char c : text) buffer.push_back(c == '\t' || c == '\n' || c == '\r' ? ' ' : c);
}

// RFC 4180: a field holding a comma, a quote or a line break is quoted, its quotes doubled.
void append_csv(std::string& buffer, std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    buffer.append(text);
    return;
  }
  buffer.push_back('"');
  for (char c : text) {
    if (c == '"') buffer.push_back('"');
    buffer.push_back(c);
  }
  buffer.push_back('"');
}

void append_header(std::string& buffer, ExportFormat format) {
  if (format != ExportFormat::tsv && format != ExportFormat::csv) return;
  for (std::size_t i = 0; i < std::size(k_export_columns); ++i) {
    if (i > 0) buffer.push_back(format == ExportFormat::tsv ? '\t' : ',');
    buffer.append(k_export_columns[i]);
  }
  buffer.append(format == ExportFormat::csv ? "\r\n" : "\n");
}

void append_row(std::string& buffer, ExportFormat format, const Row& row) {
  if (format == ExportFormat::jsonl) {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();  // keys in column order
    for (std::size_t i = 0; i < row.size(); ++i) {
      std::string key(k_export_columns[i]);
      if (i == k_billable_column) {
        object[key] = row[i] == "1";
      } else {
        object[key] = row[i] ? nlohmann::ordered_json(*row[i]) : nlohmann::ordered_json(nullptr);
      }
    }
    buffer.append(object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    buffer.push_back('\n');
    return;
  }
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i > 0) buffer.push_back(format == ExportFormat::csv ? ',' : '\t');
    std::string_view value = row[i] ? std::string_view(*row[i]) : std::string_view();
    if (format == ExportFormat::csv) {
      append_csv(buffer, value);
    } else {
      append_flat(buffer, value);
    }
  }
  buffer.append(format == ExportFormat::csv ? "\r\n" : "\n");
}

std::int64_t export_to_sink(store::Database& db, const ReleaseInfo& release, const ExportOptions& options,
                            const Sink& write) {
  // The UNIQUE (release_id, code) index hands rows over already in code order; a group is found by its
  // primary key.
  store::Statement statement = db.prepare(
      "SELECT c.code, c.description, c.short_description, c.billable, c.kind, c.parent, c.chapter,"
      " ch.description, c.section, se.description"
      " FROM codes c"
      " LEFT JOIN code_groups ch ON ch.release_id = c.release_id AND ch.kind = 'chapter' AND ch.key = "
      "c.chapter"
      " LEFT JOIN code_groups se ON se.release_id = c.release_id AND se.kind = 'section' AND se.key = "
      "c.section"
      " WHERE c.release_id = ? AND (? = 0 OR c.billable = 1) AND (? = 1 OR c.kind <> 'modifier')"
      " ORDER BY c.code");
  statement.bind_all(release.id, options.billable_only ? 1 : 0, options.include_modifiers ? 1 : 0);
  std::string buffer;
  buffer.reserve(k_flush_bytes * 2);
  append_header(buffer, options.format);
  std::int64_t n_codes = 0;
  Row row;
  while (statement.step()) {
    if (options.format == ExportFormat::plain) {
      append_flat(buffer, statement.column_text(0));
      buffer.push_back('\t');
      append_flat(buffer, statement.column_text(1));
      buffer.push_back('\n');
    } else {
      for (std::size_t i = 0; i < row.size(); ++i) {
        row[i] = i == k_billable_column
                     ? std::optional<std::string>(statement.column_int64(3) != 0 ? "1" : "0")
                     : statement.column_optional_text(static_cast<int>(i));
      }
      append_row(buffer, options.format, row);
    }
    ++n_codes;
    if (buffer.size() >= k_flush_bytes) {
      write(buffer);
      buffer.clear();
    }
  }
  write(buffer);
  return n_codes;
}

}  // namespace

std::string_view export_format_name(ExportFormat format) {
  switch (format) {
    case ExportFormat::plain:
      return "plain";
    case ExportFormat::tsv:
      return "tsv";
    case ExportFormat::csv:
      return "csv";
    case ExportFormat::jsonl:
      return "jsonl";
  }
  return "?";
}

std::optional<ExportFormat> parse_export_format(std::string_view text) {
  std::string key = util::to_lower(util::trim(text));
  for (ExportFormat format :
       {ExportFormat::plain, ExportFormat::tsv, ExportFormat::csv, ExportFormat::jsonl}) {
    if (key == export_format_name(format)) return format;
  }
  return std::nullopt;
}

std::int64_t export_codes(store::Database& db, const ReleaseInfo& release, const ExportOptions& options,
                          std::ostream& out) {
  std::int64_t n_codes = export_to_sink(db, release, options, [&out](std::string_view bytes) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
  out.flush();
  return n_codes;
}

std::int64_t export_codes_to_file(store::Database& db, const ReleaseInfo& release,
                                  const ExportOptions& options, const std::filesystem::path& path) {
  util::AtomicFile file(path);
  std::int64_t n_codes =
      export_to_sink(db, release, options, [&file](std::string_view bytes) { file.write(bytes); });
  file.commit();
  return n_codes;
}

}  // namespace medcode::codes
