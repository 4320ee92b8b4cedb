// End-to-end tests of `medcode fetch`: the shared data as a mirror, re-runs, offline, usage errors, a
// manifest pointing at the loopback server, and --list.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "medcode/fetch/file_registry.h"
#include "medcode/store/database.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"
#include "support/fake_http_server.h"
#include "support/medcode_process.h"

namespace medcode {
namespace {

namespace fs = std::filesystem;
using testing::FakeHttpServer;
using testing::ProcessResult;
using testing::run_medcode;
using testing::shared_data;
using testing::TempDir;

class FetchCommand : public ::testing::Test {
 protected:
  // Runs `medcode --db store.db <args>` in a fresh folder, with no fetch settings from the environment.
  ProcessResult medcode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", (m_dir / "store.db").string()});
    return run_medcode(args, m_dir.path(),
                       {{"MEDCODE_MIRROR", ""},
                        {"MEDCODE_CACHE_DIR", ""},
                        {"MEDCODE_MANIFEST", ""},
                        {"MEDCODE_OFFLINE", ""},
                        {"MEDCODE_FETCH_YEAR", ""},
                        {"MEDCODE_DB", ""}});
  }
  std::vector<fetch::FetchedFile> recorded() {
    store::Database db = store::Database::open(m_dir / "store.db");
    return fetch::all_fetched_files(db);
  }
  nlohmann::json last_run_counters() {
    store::Database db = store::Database::open(m_dir / "store.db");
    store::Statement query =
        db.prepare("SELECT counters FROM runs WHERE command = 'fetch' ORDER BY id DESC LIMIT 1");
    EXPECT_TRUE(query.step());
    return nlohmann::json::parse(query.column_text(0));
  }
  // A manifest with one file on the fake server.
  fs::path write_manifest(const std::string& url, const std::string& sha256) {
    fs::path path = m_dir / "sources.yaml";
    util::write_file_atomic(path,
                            fmt::format("systems:\n  demo:\n    2024:\n      - role: codes\n        url: {}\n"
                                        "        file: codes.txt\n        sha256: {}\n",
                                        url, sha256));
    return path;
  }

  TempDir m_dir;
  std::string m_mirror = shared_data("cms").string();
};

TEST_F(FetchCommand, TakesTheOfficialFilesFromTheSharedMirrorAndRecordsThemPinned) {
  ProcessResult result = medcode({"fetch", "icd10cm", "--year", "2023", "--mirror", m_mirror, "--offline"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto files = recorded();
  ASSERT_EQ(files.size(), 2u);  // the optional order file is not in the mirror
  EXPECT_EQ(files[0].role, "index");
  EXPECT_EQ(files[1].role, "tabular");
  for (const auto& file : files) {
    EXPECT_TRUE(file.pinned) << file.role;
    EXPECT_EQ(file.origin, "mirror");
    EXPECT_EQ(file.path.parent_path(), fs::weakly_canonical(shared_data("cms/icd10cm/2023")));
  }
  store::Database db = store::Database::open(m_dir / "store.db");
  store::Statement linked = db.prepare(
      "SELECT count(*) FROM fetched_files f JOIN runs r ON r.id = f.run_id WHERE r.command = 'fetch'");
  ASSERT_TRUE(linked.step());
  EXPECT_EQ(linked.column_int64(0), 2);
  EXPECT_NE(result.out.find("mirrored"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("skipped"), std::string::npos) << result.out;
}

TEST_F(FetchCommand, ASecondRunDownloadsNothingAndVerifiesWhatIsRecorded) {
  ASSERT_EQ(medcode({"fetch", "hcpcs", "--year", "2019", "--mirror", m_mirror, "--offline"}).exit_code, 0);
  ProcessResult again = medcode({"fetch", "hcpcs", "--year", "2019", "--mirror", m_mirror, "--offline"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("verified"), std::string::npos) << again.out;
  nlohmann::json counters = last_run_counters();
  EXPECT_EQ(counters["verified"], 1);
  EXPECT_EQ(counters["downloaded"], 0);
  EXPECT_EQ(counters["mirrored"], 0);
  EXPECT_EQ(counters["bytes"], 0);
  auto files = recorded();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].member, "HCPC2019_CONTR_ANWEB.txt");
  EXPECT_EQ(files[0].path.filename(), "2019-Alpha-Numeric-HCPCS-File.zip");
}

TEST_F(FetchCommand, OfflineWithARequiredFileMissingExits4NamingIt) {
  ProcessResult result = medcode({"fetch", "icd10pcs", "--year", "2024", "--mirror", m_mirror, "--offline"});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_NE(result.err.find("icd10pcs 2024 codes"), std::string::npos) << result.err;
  EXPECT_TRUE(recorded().empty());
}

TEST_F(FetchCommand, AYearNotInTheManifestExits2ListingTheChoices) {
  ProcessResult result = medcode({"fetch", "icd10cm", "--year", "2019", "--offline"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("choose from: 2023, 2024, 2025, 2026"), std::string::npos) << result.err;
}

TEST_F(FetchCommand, AnUnknownSystemExits2ListingTheSystems) {
  ProcessResult result = medcode({"fetch", "snomed", "--offline"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("icd10cm, icd10pcs, hcpcs"), std::string::npos) << result.err;
}

TEST_F(FetchCommand, AWrongPinFromTheServerExits5AndQuarantinesTheFile) {
  FakeHttpServer server;
  server.serve("/files/codes.txt", "A000 Cholera\n");
  std::string wrong(64, '0');
  fs::path manifest = write_manifest(server.url("/files/codes.txt"), wrong);
  ProcessResult result =
      medcode({"fetch", "--manifest", manifest.string(), "--cache-dir", "cache", "--retries", "0"});
  EXPECT_EQ(result.exit_code, 5);
  EXPECT_NE(result.err.find("expected sha256 " + wrong), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("got " + util::sha256_hex("A000 Cholera\n")), std::string::npos) << result.err;
  EXPECT_TRUE(fs::exists(m_dir / "cache" / "quarantine" / "demo" / "2024" / "codes.txt"));
  EXPECT_TRUE(recorded().empty());
  EXPECT_EQ(server.request_count("/files/codes.txt"), 1u);
}

TEST_F(FetchCommand, DownloadsIntoTheCacheNextToTheStoreAndARerunMakesNoRequest) {
  FakeHttpServer server;
  server.serve("/files/codes.txt", "A000 Cholera\n");
  fs::path manifest = write_manifest(server.url("/files/codes.txt"), util::sha256_hex("A000 Cholera\n"));
  ProcessResult first = medcode({"fetch", "demo", "--manifest", manifest.string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto files = recorded();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].path, fs::weakly_canonical(m_dir / "medcode-files" / "demo" / "2024" / "codes.txt"));
  EXPECT_EQ(files[0].origin, "download");
  EXPECT_TRUE(files[0].pinned);
  ProcessResult second = medcode({"fetch", "demo", "--manifest", manifest.string()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(server.request_count("/files/codes.txt"), 1u);
  EXPECT_EQ(last_run_counters()["verified"], 1);
}

TEST_F(FetchCommand, ANotFoundFileExits4WithTheUrlAndStatus) {
  FakeHttpServer server;
  fs::path manifest = write_manifest(server.url("/files/gone.txt"), "null");
  ProcessResult result = medcode({"fetch", "--manifest", manifest.string()});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_NE(result.err.find(server.url("/files/gone.txt") + ": HTTP 404"), std::string::npos) << result.err;
  EXPECT_EQ(server.request_count("/files/gone.txt"), 1u);
}

TEST_F(FetchCommand, AMalformedManifestExits3NamingTheFileAndKey) {
  fs::path manifest = m_dir / "bad.yaml";
  util::write_file_atomic(manifest,
                          "systems:\n  demo:\n    2024:\n      - role: codes\n        file: a.txt\n"
                          "        sha256: null\n");
  ProcessResult result = medcode({"fetch", "--manifest", manifest.string()});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find(manifest.string()), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("systems.demo.2024[0].url: missing"), std::string::npos) << result.err;
}

TEST_F(FetchCommand, ListShowsEachEntryWithItsStatusWithoutFetching) {
  ASSERT_EQ(medcode({"fetch", "icd10cm", "--year", "2023", "--mirror", m_mirror, "--offline"}).exit_code, 0);
  ProcessResult result = medcode({"--json", "fetch", "icd10cm", "--list"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json listing = nlohmann::json::parse(result.out);
  std::map<std::string, std::string> status;
  for (const auto& entry : listing["entries"]) {
    status[fmt::format("{} {}", entry["year"].get<int>(), entry["role"].get<std::string>())] =
        entry["status"];
  }
  EXPECT_EQ(status.size(), 12u);  // every ICD-10-CM year of the manifest
  EXPECT_EQ(status["2023 tabular"], "verified");
  EXPECT_EQ(status["2023 index"], "verified");
  EXPECT_EQ(status["2023 order"], "missing");
  EXPECT_EQ(status["2026 tabular"], "missing");
}

TEST_F(FetchCommand, HelpShowsEachOptionsDefaultAndEnvironmentVariable) {
  ProcessResult result = run_medcode({"fetch", "--help"});
  ASSERT_EQ(result.exit_code, 0);
  for (const char* text : {"MEDCODE_MIRROR", "MEDCODE_CACHE_DIR", "MEDCODE_MANIFEST", "MEDCODE_OFFLINE",
                           "MEDCODE_FETCH_RETRIES", "MEDCODE_FETCH_TIMEOUT", "MEDCODE_FETCH_YEAR", "=4",
                           "=60", "medcode-files next to the --db store", "the newest year of each system"}) {
    EXPECT_NE(result.out.find(text), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace medcode
