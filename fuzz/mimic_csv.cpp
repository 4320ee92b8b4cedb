// Fuzzes the MIMIC CSV reader (mimic/csv_reader.h), strict and lossy. The reader takes a path (it opens
// plain and gzip files alike through zlib), so each input is written to an in-memory file and read through
// its /proc/self/fd path: nothing is left on disk when a run stops. Slow (about 100 inputs/s): each reader
// zero-fills a 2 MiB buffer, which AddressSanitizer maps afresh every time.
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "harness.h"
#include "medcode/mimic/csv_reader.h"

namespace {

volatile unsigned g_checksum;  // keeps the reads of every field byte from being optimised away

class MemoryFile {
 public:
  MemoryFile() : m_fd(memfd_create("medcode-fuzz-csv", 0)) {
    if (m_fd < 0) medcode::fuzz::broken("memfd_create failed");
    m_path = "/proc/self/fd/" + std::to_string(m_fd);
  }
  ~MemoryFile() { close(m_fd); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  void write(std::string_view bytes) {
    if (ftruncate(m_fd, 0) != 0) medcode::fuzz::broken("ftruncate failed");
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = pwrite(m_fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) medcode::fuzz::broken("pwrite failed");
      done += static_cast<std::size_t>(n);
    }
  }
  const std::string& path() const { return m_path; }

 private:
  int m_fd;
  std::string m_path;
};

// Reads every record and every byte of every field, so that a view past the buffer shows up under ASan.
void read_all(const std::string& path, bool lossy) {
  using medcode::fuzz::check;
  medcode::mimic::CsvReader reader(path, lossy);
  std::vector<std::string_view> fields;
  std::int64_t previous_line = 0;
  unsigned checksum = 0;
  while (reader.next(fields)) {
    check(!fields.empty(), "a record has at least one field");
    check(reader.line() > previous_line, "records begin on increasing lines");
    previous_line = reader.line();
    for (std::string_view field : fields) {
      for (char c : field) checksum += static_cast<unsigned char>(c);
    }
  }
  check(lossy || reader.replaced() == 0, "a strict reader replaces nothing");
  g_checksum = checksum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static MemoryFile file;
  file.write(medcode::fuzz::as_text(data, size));
  // A lossy reader reads what a strict one accepts the same way: it only needs a turn where that one refused.
  if (!medcode::fuzz::read_or_reject(file.path(), [&] { read_all(file.path(), false); })) {
    medcode::fuzz::read_or_reject(file.path(), [&] { read_all(file.path(), true); });
  }
  return 0;
}
