// A streaming RFC 4180 reader: finds each record's end (quotes may hide line breaks), then splits it in
// place, undoubling quotes, so that most fields are views into the read buffer with no copy.
#include "medcode/mimic/csv_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/utf8.h"

namespace medcode::mimic {

namespace {

constexpr std::size_t k_read_size = 1 << 20;

}  // namespace

void CsvReader::GzCloser::operator()(void* file) const { gzclose(static_cast<gzFile>(file)); }

CsvReader::CsvReader(const std::filesystem::path& path, bool lossy) : m_path(path), m_lossy(lossy) {
  std::error_code error;
  m_file_size = std::filesystem::file_size(path, error);
  if (error) fail(ExitCode::bad_input, "{}: cannot read: {}", path.string(), error.message());
  // gzopen reads plain files as they are, so one path serves .csv and .csv.gz.
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) fail(ExitCode::bad_input, "{}: cannot open", path.string());
  m_file.reset(file);
  gzbuffer(file, 1 << 18);
  m_buffer.resize(2 * k_read_size);
}

CsvReader::~CsvReader() = default;

std::uint64_t CsvReader::bytes_read() const {
  auto offset = gzoffset(static_cast<gzFile>(m_file.get()));
  return offset < 0 ? 0 : static_cast<std::uint64_t>(offset);
}

void CsvReader::fail_at(std::int64_t line, std::string_view problem) const {
  fail(ExitCode::bad_input, "{}:{}: {}", m_path.string(), line, problem);
}

bool CsvReader::fill() {
  if (m_eof) return false;
  // Keep the unconsumed bytes, moved to the front; grow when one record outgrows the buffer.
  if (m_begin > 0) {
    std::memmove(m_buffer.data(), m_buffer.data() + m_begin, m_end - m_begin);
    m_end -= m_begin;
    m_buffer_offset += m_begin;
    m_begin = 0;
  }
  if (m_buffer.size() - m_end < k_read_size) m_buffer.resize(m_end + 2 * k_read_size);
  auto* file = static_cast<gzFile>(m_file.get());
  int n = gzread(file, m_buffer.data() + m_end, static_cast<unsigned>(k_read_size));
  int code = Z_OK;
  const char* message = gzerror(file, &code);
  // A stream cut short reads as its end with Z_BUF_ERROR set, not as an error return.
  if (n < 0 || (n == 0 && code != Z_OK)) {
    fail(ExitCode::bad_input, "{}: corrupt or truncated gzip stream at line {}: {}", m_path.string(),
         m_next_line, message ? message : "read error");
  }
  if (n == 0) {
    m_eof = true;
    return false;
  }
  m_expanded += static_cast<std::uint64_t>(n);
  util::check_expansion(m_path.string(), m_expanded, bytes_read(), false);
  if (m_end == 0 && m_next_line == 1 && n >= 3 && std::memcmp(m_buffer.data(), "\xEF\xBB\xBF", 3) == 0) {
    std::memmove(m_buffer.data(), m_buffer.data() + 3, static_cast<std::size_t>(n - 3));  // UTF-8 BOM
    n -= 3;
    m_buffer_offset = 3;
  }
  m_end += static_cast<std::size_t>(n);
  return true;
}

bool CsvReader::next(std::vector<std::string_view>& fields) {
  fields.clear();
  if (m_begin == m_end && !fill()) return false;

  // Find the record's end: the first line break outside quotes. A doubled quote toggles twice, so it needs
  // no special case here.
  std::size_t scan = m_begin;
  bool in_quotes = false;
  bool has_quotes = false;
  std::int64_t line_breaks = 0;
  std::size_t record_end = 0;
  while (true) {
    const char* data = m_buffer.data();
    std::size_t i = scan;
    if (!in_quotes && !has_quotes) {
      // Fast path for plain records: look for a quote or the line end.
      while (i < m_end && data[i] != '\n' && data[i] != '"') ++i;
    }
    for (; i < m_end; ++i) {
      char c = data[i];
      if (c == '"') {
        in_quotes = !in_quotes;
        has_quotes = true;
      } else if (c == '\n') {
        if (!in_quotes) break;
        ++line_breaks;
      }
    }
    if (i < m_end) {
      record_end = i;
      break;
    }
    std::size_t scanned = i - m_begin;
    if (!fill()) {
      if (in_quotes) fail_at(m_next_line, "a quoted field is not closed before the end of the file");
      record_end = m_end;  // the last record has no line break
      break;
    }
    scan = m_begin + scanned;
  }

  m_record_line = m_next_line;
  m_next_line += 1 + line_breaks;
  std::size_t content_end = record_end;
  if (content_end > m_begin && m_buffer[content_end - 1] == '\r') --content_end;
  std::size_t begin = m_begin;
  m_begin = record_end < m_end ? record_end + 1 : record_end;

  char* data = m_buffer.data();
  if (repair_text(begin, content_end)) {
    data = m_repaired.data();
    begin = 0;
    content_end = m_repaired.size();
  }
  if (!has_quotes) {
    std::size_t start = begin;
    while (true) {
      const void* comma = std::memchr(data + start, ',', content_end - start);
      if (comma == nullptr) {
        fields.emplace_back(data + start, content_end - start);
        break;
      }
      auto at = static_cast<std::size_t>(static_cast<const char*>(comma) - data);
      fields.emplace_back(data + start, at - start);
      start = at + 1;
    }
    return true;
  }
  split_quoted(data, begin, content_end, fields);
  return true;
}

bool CsvReader::repair_text(std::size_t begin, std::size_t end) {
  std::string_view record(m_buffer.data() + begin, end - begin);
  std::size_t at = util::first_invalid_utf8(record);
  if (at == std::string_view::npos) return false;
  if (!m_lossy) {
    auto line = m_record_line + std::count(record.begin(), record.begin() + static_cast<std::ptrdiff_t>(at), '\n');
    fail(ExitCode::bad_input,
         "{}: line {}, byte {}: not valid UTF-8 ({}); convert the file, or pass --lossy to replace such bytes "
         "with U+FFFD",
         m_path.string(), line, m_buffer_offset + begin + at, util::describe_bytes(record, at, 2));
  }
  m_repaired.assign(record);
  m_replaced += util::replace_invalid_utf8(m_repaired);
  return true;
}

// Splits a record that has quotes: a quoted field's content is undoubled in place and viewed where it lies.
void CsvReader::split_quoted(char* data, std::size_t begin, std::size_t end,
                             std::vector<std::string_view>& fields) {
  std::size_t at = begin;
  while (true) {
    if (at < end && data[at] == '"') {
      std::size_t read = at + 1;
      std::size_t write = at + 1;
      while (true) {
        if (read >= end) fail_at(m_record_line, "a quoted field is not closed");
        char c = data[read];
        if (c == '"') {
          if (read + 1 < end && data[read + 1] == '"') {
            data[write++] = '"';
            read += 2;
            continue;
          }
          break;  // the closing quote
        }
        data[write++] = c;
        ++read;
      }
      fields.emplace_back(data + at + 1, write - (at + 1));
      at = read + 1;
      if (at == end) return;
      if (data[at] != ',') {
        fail_at(m_record_line, "text after the closing quote of field " + std::to_string(fields.size()));
      }
      ++at;
      continue;
    }
    std::size_t start = at;
    while (at < end && data[at] != ',') {
      if (data[at] == '"') {
        fail_at(m_record_line, "a quote inside unquoted field " + std::to_string(fields.size() + 1) +
                                   " (quote the field and double the quote)");
      }
      ++at;
    }
    fields.emplace_back(data + start, at - start);
    if (at == end) return;
    ++at;
  }
}

}  // namespace medcode::mimic
