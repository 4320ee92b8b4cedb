// A streaming CSV reader for plain or gzip files, as RFC 4180 defines the format
// (https://www.rfc-editor.org/rfc/rfc4180): quoted fields hold commas, doubled quotes and line breaks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::mimic {

class CsvReader {
 public:
  // Opens `path`; gzip is recognised by its content and decompressed on the fly. Error(bad_input) when the
  // file cannot be opened. A record that is not valid UTF-8 is Error(bad_input) naming its line and byte,
  // unless `lossy`, which replaces each invalid sequence with U+FFFD (counted in replaced()).
  explicit CsvReader(const std::filesystem::path& path, bool lossy = false);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // The next record's fields, as views valid until the next call; false at the end of the input.
  // Error(bad_input) "<file>:<line>: ..." for a quote left open or text after a closing quote.
  bool next(std::vector<std::string_view>& fields);

  // The line on which the last record began (1-based; records can span lines).
  std::int64_t line() const { return m_record_line; }
  // How far into the file on disk reading has got (compressed bytes for gzip), and its size: for progress.
  std::uint64_t bytes_read() const;
  std::uint64_t file_size() const { return m_file_size; }
  const std::filesystem::path& path() const { return m_path; }
  // Invalid UTF-8 sequences replaced so far (lossy readers only).
  std::uint64_t replaced() const { return m_replaced; }

 private:
  bool fill();  // reads more input after the unconsumed bytes; false when nothing more could be read
  [[noreturn]] void fail_at(std::int64_t line, std::string_view problem) const;
  void split_quoted(char* data, std::size_t begin, std::size_t end, std::vector<std::string_view>& fields);
  // The record [begin, end) of the buffer as valid UTF-8: itself, or a repaired copy when lossy.
  bool repair_text(std::size_t begin, std::size_t end);

  struct GzCloser {
    void operator()(void* file) const;
  };
  std::filesystem::path m_path;
  bool m_lossy = false;
  std::uint64_t m_replaced = 0;
  std::string m_repaired;                  // a repaired record, when its bytes were not valid UTF-8
  std::uint64_t m_buffer_offset = 0;       // bytes of the (decompressed) text before m_buffer[0]
  std::uint64_t m_expanded = 0;            // bytes read from the (decompressed) text
  std::unique_ptr<void, GzCloser> m_file;  // gzFile
  std::uint64_t m_file_size = 0;
  std::string m_buffer;
  std::size_t m_begin = 0;  // first unconsumed byte
  std::size_t m_end = 0;    // end of the valid bytes
  bool m_eof = false;
  std::int64_t m_next_line = 1;
  std::int64_t m_record_line = 0;
};

}  // namespace medcode::mimic
