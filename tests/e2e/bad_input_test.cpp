// End-to-end tests of input that is broken, hostile or meets a hostile environment: text that is not UTF-8
// (refused naming file, line and byte, or repaired under --lossy), XML in another declared encoding, store
// text that must still print as JSON, a code given twice, stores that are devices, pipes, read-only mounts,
// full disks or past the file-size limit, and decompression bombs. Each asserts the exit code, that the
// message names the file at fault, and that the store was left as it was.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

#include "support/medcode_process.h"
#include "support/store_query.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::ProcessResult;
using testing::query_int;
using testing::query_text;
using testing::read_text;
using testing::run_medcode;
using testing::run_medcode_at;
using testing::shared_data;
using testing::TempDir;

const fs::path k_excerpt = shared_data("cms/icd10cm/2023/icd10cm_tabular_2023_excerpt.xml");
const fs::path k_tabular = shared_data("cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz");  // about 50 MB stored
const fs::path k_mimic_iv = shared_data("mimic-iv-demo-2.2");

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// `count` bytes of `byte`, gzip-compressed into `path` (a few hundred KiB for hundreds of MiB).
void write_gzip_of(const fs::path& path, const std::string& head, std::size_t count, char byte) {
  gzFile file = gzopen(path.c_str(), "wb1");
  ASSERT_NE(file, nullptr);
  gzwrite(file, head.data(), static_cast<unsigned>(head.size()));
  std::string block(1 << 20, byte);
  for (std::size_t written = 0; written < count; written += block.size()) {
    gzwrite(file, block.data(), static_cast<unsigned>(block.size()));
  }
  gzclose(file);
}

class BadInput : public ::testing::Test {
 protected:
  fs::path db() const { return m_dir / "s.db"; }
  ProcessResult medcode(std::vector<std::string> args, const fs::path& store = {}) {
    args.insert(args.begin(), {"--db", (store.empty() ? db() : store).string()});
    return run_medcode(args, m_dir.path());
  }
  // A shell script run with $MEDCODE set to the binary, in the test's folder.
  ProcessResult shell(const std::string& script, const std::vector<std::string>& wrapper = {}) {
    std::vector<std::string> args = wrapper;
    args.insert(args.end(), {"/bin/sh", "-c", script});
    fs::path program = args.front();
    args.erase(args.begin());
    return run_medcode_at(program, args, m_dir.path(), {{"MEDCODE", MEDCODE_BINARY}});
  }
  // The excerpt with `bytes` put at the start of the description of its first code; the line they are on.
  std::size_t excerpt_with(const fs::path& path, const std::string& bytes) {
    std::string xml = read_text(k_excerpt);
    std::size_t at = xml.find("<desc>", xml.find("<diag>")) + 6;
    write_bytes(path, xml.substr(0, at) + bytes + xml.substr(at));
    return 1 + static_cast<std::size_t>(std::count(xml.begin(), xml.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
  }
  std::int64_t releases() { return query_int(db(), "SELECT count(*) FROM releases"); }

  TempDir m_dir;
};

TEST_F(BadInput, InvalidUtf8InAnXmlFileIsRefusedNamingFileLineAndByte) {
  fs::path bad = m_dir / "tabular.xml";
  std::size_t line = excerpt_with(bad, "\xFF\xFE");
  ProcessResult result = medcode({"import", "icd10cm", "--year", "2023", bad.string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_TRUE(contains(result.err, bad.string() + ": line " + std::to_string(line) + ", byte ")) << result.err;
  EXPECT_TRUE(contains(result.err, "0xFF 0xFE")) << result.err;
  EXPECT_TRUE(contains(result.err, "--lossy")) << result.err;
  EXPECT_EQ(releases(), 0);
}

TEST_F(BadInput, LossyReplacesInvalidBytesAndCountsThem) {
  fs::path bad = m_dir / "tabular.xml";
  excerpt_with(bad, "\xFF\xFE");
  ProcessResult result = medcode({"--json", "import", "icd10cm", "--year", "2023", "--lossy", bad.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["counters"]["replaced_utf8"], 2);
  EXPECT_TRUE(contains(result.err, "2 invalid UTF-8 sequences replaced")) << result.err;
  std::string first = query_text(db(), "SELECT code FROM codes ORDER BY id LIMIT 1");
  ProcessResult show = medcode({"--json", "codes", "show", first});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  std::string description = nlohmann::json::parse(show.out)["description"];
  EXPECT_EQ(description.rfind("\xEF\xBF\xBD\xEF\xBF\xBD", 0), 0u) << description;
}

TEST_F(BadInput, AnXmlFileInADeclaredLatin1EncodingIsConverted) {
  std::string xml = read_text(k_excerpt);
  std::size_t declaration = xml.find("encoding=\"");
  ASSERT_NE(declaration, std::string::npos);
  xml.replace(declaration, xml.find('"', declaration + 10) + 1 - declaration, "encoding=\"ISO-8859-1\"");
  std::size_t at = xml.find("<desc>", xml.find("<diag>")) + 6;
  xml.insert(at, "Sj\xF6gren ");  // ö in Latin-1
  write_bytes(m_dir / "latin1.xml", xml);
  ProcessResult result = medcode({"import", "icd10cm", "--year", "2023", (m_dir / "latin1.xml").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM codes WHERE description LIKE 'Sj\xC3\xB6gren %'"), 1);
}

TEST_F(BadInput, InvalidUtf8InAMimicCsvIsRefusedOrRepaired) {
  fs::path release = m_dir / "release";
  fs::create_directories(release / "hosp");
  fs::copy_file(k_mimic_iv / "hosp/patients.csv.gz", release / "hosp/patients.csv.gz");
  write_bytes(release / "hosp/admissions.csv",
              "subject_id,hadm_id,admittime,dischtime,deathtime,admission_type,admit_provider_id,"
              "admission_location,discharge_location,insurance,language,marital_status,race,edregtime,edouttime,"
              "hospital_expire_flag\n"
              "10004235,24181354,2196-02-24 14:38:00,2196-03-04 14:02:00,,URGENT,P03YMR,TRANSFER,HOME,Medicaid,"
              "ENGLISH,SINGLE,WHITE,,,0\n"
              "10004236,24181355,2196-02-24 14:38:00,2196-03-04 14:02:00,,URGENT,P03YMR,TRANSFER,HOME,Medicaid,"
              "ENGLISH,SINGLE,WH\xFF\xFEITE,,,0\n");
  ProcessResult refused = medcode({"import", "mimic-iv", release.string(), "--tables", "patients,admissions"});
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_TRUE(contains(refused.err, (release / "hosp/admissions.csv").string() + ": line 3, byte ")) << refused.err;
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM sqlite_master WHERE name = 'mimic4_admissions'"), 0);

  ProcessResult repaired =
      medcode({"--json", "import", "mimic-iv", release.string(), "--tables", "patients,admissions", "--lossy"});
  ASSERT_EQ(repaired.exit_code, 0) << repaired.err;
  auto tables = nlohmann::json::parse(repaired.out)["tables"];
  std::int64_t replaced = 0;
  for (const auto& table : tables) replaced += table["replaced_utf8"].get<std::int64_t>();
  EXPECT_EQ(replaced, 2);
  EXPECT_EQ(query_text(db(), "SELECT race FROM mimic4_admissions WHERE hadm_id = 24181355"),
            "WH\xEF\xBF\xBD\xEF\xBF\xBDITE");
}

// Whatever bytes the store holds (written by an older medcode or by hand), every --json command prints JSON.
TEST_F(BadInput, JsonOutputNeverThrowsOnStoreText) {
  ASSERT_EQ(medcode({"import", "icd10cm", "--year", "2023", k_excerpt.string()}).exit_code, 0);
  std::string code = query_text(db(), "SELECT code FROM codes WHERE billable = 1 ORDER BY id LIMIT 1");
  std::mt19937 random(20261202);
  {
    store::Database store = store::Database::open(db());
    for (int round = 0; round < 8; ++round) {
      std::string bytes;
      for (int i = 0; i < 24; ++i) bytes.push_back(static_cast<char>(random() % 256));
      store.prepare("UPDATE codes SET description = ?, short_description = ? WHERE id IN "
                    "(SELECT id FROM codes ORDER BY random() LIMIT 40)")
          .bind_all(bytes, bytes)
          .run();
      store.prepare("UPDATE code_notes SET text = ? WHERE rowid % 7 = ?").bind_all(bytes, round).run();
    }
    store.prepare("UPDATE codes SET description = ? WHERE code = ?").bind_all(std::string("\xC3\x28\xFF ok"), code).run();
    store.prepare("UPDATE releases SET sources = ?").bind_all(std::string("\xF0\x28\x8C\xBC")).run();
  }
  std::vector<std::vector<std::string>> commands = {
      {"codes", "show", code}, {"codes", "search", "cholera"}, {"codes", "validate", code},
      {"codes", "releases"},   {"codes", "search", "ok"}};
  for (const auto& command : commands) {
    std::vector<std::string> args = {"--json"};
    args.insert(args.end(), command.begin(), command.end());
    ProcessResult result = medcode(args);
    EXPECT_EQ(result.exit_code, 0) << command[1] << ": " << result.err;
    nlohmann::json parsed;
    EXPECT_NO_THROW(parsed = nlohmann::json::parse(result.out)) << command[1] << ": " << result.out;
  }
  ProcessResult exported = medcode({"codes", "export"});
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  ProcessResult report = medcode({"report", "--out", (m_dir / "report.html").string()});
  EXPECT_EQ(report.exit_code, 0) << report.err;
}

TEST_F(BadInput, ACodeGivenTwiceIsBadInputNamingFileAndLines) {
  std::string xml = read_text(k_excerpt);
  std::size_t name = xml.find("<name>", xml.find("<diag>")) + 6;
  std::string code = xml.substr(name, xml.find("</name>", name) - name);
  // The section's first code again, at the end of the section.
  xml.insert(xml.find("</section>"), "<diag><name>" + code + "</name><desc>Again</desc></diag>\n");
  write_bytes(m_dir / "twice.xml", xml);
  ProcessResult result = medcode({"import", "icd10cm", "--year", "2023", (m_dir / "twice.xml").string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_TRUE(contains(result.err, (m_dir / "twice.xml").string() + ":")) << result.err;
  EXPECT_TRUE(contains(result.err, "given twice (first at line")) << result.err;
  EXPECT_EQ(releases(), 0);
}

TEST_F(BadInput, AStoreThatIsADeviceOrAPipeIsAUsageError) {
  ProcessResult device = medcode({"codes", "releases"}, "/dev/null");
  EXPECT_EQ(device.exit_code, 2) << device.err;
  EXPECT_TRUE(contains(device.err, "/dev/null: not a regular file")) << device.err;
  fs::path fifo = m_dir / "fifo.db";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ProcessResult pipe = medcode({"import", "icd10cm", "--year", "2023", k_excerpt.string()}, fifo);
  EXPECT_EQ(pipe.exit_code, 2) << pipe.err;
  EXPECT_TRUE(contains(pipe.err, fifo.string() + ": not a regular file")) << pipe.err;
}

// The environment tests need a mount namespace (unshare -m) to mount a read-only folder or a small
// file system; where the machine does not allow one they are skipped.
bool can_mount(const fs::path& dir) {
  std::string probe = "unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs " + dir.string() + "' 2>/dev/null";
  return std::system(probe.c_str()) == 0;
}

TEST_F(BadInput, AStoreOnAReadOnlyMountCanBeReadButNotWritten) {
  fs::path folder = m_dir / "ro";
  fs::create_directories(folder);
  if (!can_mount(folder)) GTEST_SKIP() << "no mount namespace here (unshare -m)";
  fs::path store = folder / "s.db";
  ASSERT_EQ(medcode({"import", "icd10cm", "--year", "2023", k_excerpt.string()}, store).exit_code, 0);
  std::string code = query_text(store, "SELECT code FROM codes WHERE billable = 1 ORDER BY id LIMIT 1");
  std::int64_t runs = query_int(store, "SELECT count(*) FROM runs");
  std::string script = "mount --bind -o ro \"$0\" \"$0\" || exit 99\n"
                       "\"$MEDCODE\" --db \"$0/s.db\" --json codes show " + code + " > show.json; echo show=$?\n"
                       "\"$MEDCODE\" --db \"$0/s.db\" import icd10cm --year 2023 \"$1\"; echo import=$?\n";
  ProcessResult result = run_medcode_at("/usr/bin/unshare", {"-m", "/bin/sh", "-c", script, folder.string(), k_excerpt.string()},
                                        m_dir.path(), {{"MEDCODE", MEDCODE_BINARY}});
  ASSERT_NE(result.exit_code, 99) << result.err;
  EXPECT_TRUE(contains(result.out, "show=0")) << result.out << result.err;
  EXPECT_EQ(nlohmann::json::parse(read_text(m_dir / "show.json"))["code"], code);
  EXPECT_TRUE(contains(result.out, "import=7")) << result.out << result.err;
  EXPECT_TRUE(contains(result.err, store.string() + ": ")) << result.err;
  EXPECT_TRUE(contains(result.err, "read-only")) << result.err;
  EXPECT_EQ(query_int(store, "SELECT count(*) FROM releases"), 1);
  EXPECT_EQ(query_int(store, "SELECT count(*) FROM runs"), runs);
}

TEST_F(BadInput, AFullDiskIsAStorageErrorAndLeavesTheStoreAsItWas) {
  fs::path folder = m_dir / "small";
  fs::create_directories(folder);
  if (!can_mount(folder)) GTEST_SKIP() << "no mount namespace here (unshare -m)";
  { store::Database::open(m_dir / "empty.db"); }  // an empty store to put on the small file system
  ASSERT_EQ(medcode({"import", "icd10cm", "--year", "2023", k_excerpt.string()}).exit_code, 0);
  // 4 MiB: room for an empty store, not for the full tabular's release; then a report that does not fit.
  std::string script = "mount -t tmpfs -o size=4m tmpfs \"$0\" || exit 99\n"
                       "cp \"$1/empty.db\" \"$0/s.db\"\n"
                       "\"$MEDCODE\" --db \"$0/s.db\" import icd10cm --year 2023 \"$2\"; echo import=$?\n"
                       "\"$MEDCODE\" --db \"$0/s.db\" --json codes releases; echo after=$?\n"
                       "head -c 8000000 /dev/zero > \"$0/filler\" 2>/dev/null\n"
                       "\"$MEDCODE\" --db \"$1/s.db\" report --out \"$0/report.html\"; echo report=$?\n"
                       "ls \"$0\"\n";
  ProcessResult result = run_medcode_at(
      "/usr/bin/unshare", {"-m", "/bin/sh", "-c", script, folder.string(), m_dir.path().string(), k_tabular.string()},
      m_dir.path(), {{"MEDCODE", MEDCODE_BINARY}});
  ASSERT_NE(result.exit_code, 99) << result.err;
  EXPECT_TRUE(contains(result.out, "import=7")) << result.out << result.err;
  EXPECT_TRUE(contains(result.err, (folder / "s.db").string() + ": disk full")) << result.err;
  EXPECT_TRUE(contains(result.out, "[]\nafter=0")) << result.out << result.err;
  EXPECT_TRUE(contains(result.out, "report=7")) << result.out << result.err;
  EXPECT_TRUE(contains(result.err, (folder / "report.html").string() + ": cannot write")) << result.err;
  EXPECT_FALSE(contains(result.out, "report.html")) << result.out;  // nor its temporary file
}

TEST_F(BadInput, TheFileSizeLimitIsAStorageError) {
  { store::Database::open(db()); }
  // ulimit -f counts 512-byte blocks: 4 MiB, less than the tabular's release needs.
  ProcessResult result = shell("ulimit -f 8192; exec \"$MEDCODE\" --db s.db import icd10cm --year 2023 \"" +
                               k_tabular.string() + "\"");
  EXPECT_EQ(result.exit_code, 7) << result.err;
  EXPECT_TRUE(contains(result.err, "s.db: ")) << result.err;
  EXPECT_EQ(releases(), 0);
}

TEST_F(BadInput, AGzipBombStopsEarly) {
  fs::path bomb = m_dir / "tabular.xml.gz";
  write_gzip_of(bomb, "<?xml version=\"1.0\"?>\n<ICD10CM.tabular>", std::size_t{300} << 20, ' ');
  ProcessResult result = medcode({"import", "icd10cm", "--year", "2023", bomb.string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_TRUE(contains(result.err, bomb.string() + ": ")) << result.err;
  EXPECT_TRUE(contains(result.err, "decompression bomb")) << result.err;
  EXPECT_EQ(releases(), 0);
  // The byte cap holds when the ratio is allowed.
  ProcessResult capped = medcode({"--max-expansion-ratio", "100000", "--max-expanded-size", "100M", "import",
                                  "icd10cm", "--year", "2023", bomb.string()});
  EXPECT_EQ(capped.exit_code, 3) << capped.err;
  EXPECT_TRUE(contains(capped.err, "expands past 100.0 MiB")) << capped.err;
}

TEST_F(BadInput, AGzipBombInAMimicFolderStopsEarly) {
  fs::path release = m_dir / "release";
  fs::create_directories(release / "hosp");
  write_gzip_of(release / "hosp/patients.csv.gz", "subject_id,gender,anchor_age,anchor_year,anchor_year_group,dod\n",
                std::size_t{300} << 20, '1');
  ProcessResult result = medcode({"import", "mimic-iv", release.string(), "--tables", "patients"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_TRUE(contains(result.err, (release / "hosp/patients.csv.gz").string() + ": ")) << result.err;
  EXPECT_TRUE(contains(result.err, "decompression bomb")) << result.err;
  EXPECT_EQ(query_int(db(), "SELECT count(*) FROM sqlite_master WHERE name LIKE 'mimic4_patients%'"), 0);
}

}  // namespace
}  // namespace medcode
