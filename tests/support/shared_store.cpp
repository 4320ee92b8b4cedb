// Building shared test stores once, under an exclusive file lock.
#include "support/shared_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "support/medcode_process.h"

namespace medcode::testing {

namespace fs = std::filesystem;

namespace {

class FileLock {
 public:
  explicit FileLock(const fs::path& path) : m_fd(::open(path.c_str(), O_CREAT | O_RDWR, 0644)) {
    if (m_fd < 0 || ::flock(m_fd, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + path.string());
  }
  ~FileLock() {
    ::flock(m_fd, LOCK_UN);
    ::close(m_fd);
  }

 private:
  int m_fd;
};

std::string binary_stamp() {
  auto written = fs::last_write_time(MEDCODE_BINARY).time_since_epoch();
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(written).count());
}

}  // namespace

fs::path shared_store(const std::string& name, const std::vector<std::string>& import_args) {
  return shared_store(name, std::vector<std::vector<std::string>>{import_args});
}

fs::path shared_store(const std::string& name, const std::vector<std::vector<std::string>>& imports) {
  fs::path dir = fs::path(MEDCODE_TEST_CACHE_DIR);
  fs::create_directories(dir);
  fs::path store = dir / (name + "-" + binary_stamp() + ".db");
  FileLock lock(dir / (name + ".lock"));
  if (fs::exists(store)) return store;
  fs::path building = dir / (name + ".building.db");
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(building.string() + suffix);
  for (const auto& import_args : imports) {
    std::vector<std::string> args{"--quiet", "--db", building.string(), "import"};
    args.insert(args.end(), import_args.begin(), import_args.end());
    ProcessResult result = run_medcode(args);
    if (result.exit_code != 0) throw std::runtime_error("building the shared store failed: " + result.err);
  }
  fs::rename(building, store);
  return store;
}

fs::path icd10cm_2023_store() {
  return shared_store("icd10cm-2023", {"icd10cm", "--year", "2023",
                                       shared_data("cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz").string(),
                                       shared_data("cms/icd10cm/2023/icd10cm_index_2023.xml.gz").string()});
}

fs::path mimic_iv_demo_notes_store() {
  return shared_store("mimic-iv-demo-notes", {{"mimic-iv", shared_data("mimic-iv-demo-2.2").string()},
                                              {"mimic-iv", fixture("mimic").string()}});
}

}  // namespace medcode::testing
