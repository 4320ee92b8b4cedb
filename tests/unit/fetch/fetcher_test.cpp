// The fetcher: download, pin check and record; quarantine on mismatch; re-runs that verify instead of
// downloading; mirrors used in place; offline and optional files.
#include "medcode/fetch/fetcher.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>

#include "medcode/fetch/file_content.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/hash.h"
#include "support/fake_http_server.h"
#include "support/medcode_process.h"

namespace medcode::fetch {
namespace {

namespace fs = std::filesystem;
using testing::FakeHttpServer;
using testing::FakeResponse;
using testing::read_text;
using testing::shared_data;
using testing::TempDir;

constexpr const char* k_hcpcs_member = "HCPC2019_CONTR_ANWEB.txt";
constexpr const char* k_hcpcs_member_sha256 =
    "c8e38e89b9b4d47dd81bea6924b8e9005f3494a89234fe28b534a7c17c3c6f12";
constexpr const char* k_wrong_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";

struct Pin {
  Pin(std::string role_name, std::string server_path, std::string pin, std::string member_pattern = "",
      bool is_optional = false)
      : role(std::move(role_name)),
        path(std::move(server_path)),
        sha256(std::move(pin)),
        member(std::move(member_pattern)),
        optional(is_optional) {}

  std::string role;
  std::string path;    // on the fake server
  std::string sha256;  // empty: null
  std::string member;  // empty: a plain file
  bool optional = false;
};

// A one-system manifest whose files live on the fake server.
Manifest server_manifest(const FakeHttpServer& server, const std::vector<Pin>& pins) {
  std::string yaml = "systems:\n  demo:\n    2024:\n";
  for (const auto& pin : pins) {
    yaml += fmt::format("      - role: {}\n        url: {}\n        file: {}.txt\n        sha256: {}\n",
                        pin.role, server.url(pin.path), pin.role, pin.sha256.empty() ? "null" : pin.sha256);
    if (!pin.member.empty()) yaml += fmt::format("        member: \"{}\"\n", pin.member);
    if (pin.optional) yaml += "        optional: true\n";
  }
  return parse_manifest(yaml, "test manifest");
}

std::vector<const ManifestEntry*> all_of(const Manifest& manifest) {
  std::vector<const ManifestEntry*> entries;
  for (const auto& entry : manifest.entries) entries.push_back(&entry);
  return entries;
}

class FetcherTest : public ::testing::Test {
 protected:
  FetchOptions options() const {
    FetchOptions out;
    out.cache_dir = m_dir / "cache";
    out.download.retries = 2;
    out.download.initial_backoff = std::chrono::milliseconds(1);
    out.download.max_backoff = std::chrono::milliseconds(2);
    return out;
  }
  FetchSummary fetch(const Manifest& manifest, const FetchOptions& fetch_options) {
    return fetch_entries(m_db, all_of(manifest), fetch_options);
  }
  FetchSummary fetch(const Manifest& manifest) { return fetch(manifest, options()); }
  Error fetch_error(const Manifest& manifest, const FetchOptions& fetch_options) {
    try {
      fetch(manifest, fetch_options);
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "no Error thrown";
    return Error(ExitCode::ok, "");
  }
  std::size_t recorded_count() { return all_fetched_files(m_db).size(); }

  FakeHttpServer m_server;
  TempDir m_dir;
  store::Database m_db = store::Database::open_in_memory();
};

TEST_F(FetcherTest, DownloadsVerifiesAndRecordsAPinnedFile) {
  m_server.serve("/files/codes.txt", "A000 Cholera\n");
  Manifest manifest =
      server_manifest(m_server, {{"codes", "/files/codes.txt", util::sha256_hex("A000 Cholera\n")}});
  FetchOptions fetch_options = options();
  fetch_options.run_id = std::nullopt;
  FetchSummary summary = fetch(manifest, fetch_options);
  ASSERT_EQ(summary.items.size(), 1u);
  EXPECT_EQ(summary.items[0].action, FetchAction::downloaded);
  EXPECT_EQ(summary.n_downloaded, 1);
  EXPECT_EQ(summary.bytes_downloaded, 13);
  auto record = find_fetched_file(m_db, "demo", 2024, "codes");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->path, fs::weakly_canonical(m_dir / "cache" / "demo" / "2024" / "codes.txt"));
  EXPECT_EQ(read_text(record->path), "A000 Cholera\n");
  EXPECT_EQ(record->url, m_server.url("/files/codes.txt"));
  EXPECT_EQ(record->sha256, util::sha256_hex("A000 Cholera\n"));
  EXPECT_EQ(record->bytes, 13);
  EXPECT_EQ(record->origin, "download");
  EXPECT_TRUE(record->pinned);
  EXPECT_TRUE(summary.warnings.empty());
}

TEST_F(FetcherTest, ChecksumMismatchQuarantinesTheFileAndRecordsNothing) {
  m_server.serve("/files/codes.txt", "tampered\n");
  Manifest manifest = server_manifest(m_server, {{"codes", "/files/codes.txt", k_wrong_sha256}});
  Error error = fetch_error(manifest, options());
  EXPECT_EQ(error.code(), ExitCode::integrity);
  std::string message = error.what();
  EXPECT_NE(message.find("codes.txt"), std::string::npos) << message;
  EXPECT_NE(message.find("expected sha256 " + std::string(k_wrong_sha256)), std::string::npos) << message;
  EXPECT_NE(message.find("got " + util::sha256_hex("tampered\n")), std::string::npos) << message;
  EXPECT_TRUE(fs::exists(m_dir / "cache" / "quarantine" / "demo" / "2024" / "codes.txt"));
  EXPECT_FALSE(fs::exists(m_dir / "cache" / "demo" / "2024" / "codes.txt"));
  EXPECT_EQ(recorded_count(), 0u);
}

TEST_F(FetcherTest, ARerunOfRecordedFilesMakesNoRequest) {
  m_server.serve("/files/codes.txt", "A000 Cholera\n");
  Manifest manifest =
      server_manifest(m_server, {{"codes", "/files/codes.txt", util::sha256_hex("A000 Cholera\n")}});
  fetch(manifest);
  std::size_t requests = m_server.requests().size();
  FetchSummary again = fetch(manifest);
  EXPECT_EQ(m_server.requests().size(), requests);
  EXPECT_EQ(again.items.at(0).action, FetchAction::verified);
  EXPECT_EQ(again.n_verified, 1);
  EXPECT_EQ(again.bytes_downloaded, 0);
}

TEST_F(FetcherTest, FetchesAgainARecordedFileThatVanished) {
  m_server.serve("/files/codes.txt", "A000 Cholera\n");
  Manifest manifest =
      server_manifest(m_server, {{"codes", "/files/codes.txt", util::sha256_hex("A000 Cholera\n")}});
  fetch(manifest);
  fs::remove(find_fetched_file(m_db, "demo", 2024, "codes")->path);
  FetchSummary again = fetch(manifest);
  EXPECT_EQ(again.items.at(0).action, FetchAction::downloaded);
  EXPECT_EQ(m_server.request_count("/files/codes.txt"), 2u);
}

TEST_F(FetcherTest, QuarantinesARecordedDownloadThatChangedAndFetchesItAgain) {
  std::string body = "A000 Cholera\n";
  m_server.serve("/files/codes.txt", body);
  Manifest manifest = server_manifest(m_server, {{"codes", "/files/codes.txt", ""}});
  fetch(manifest);
  fs::path path = find_fetched_file(m_db, "demo", 2024, "codes")->path;
  std::ofstream(path, std::ios::binary) << "B000 Changed\n";  // same size, other content
  FetchSummary again = fetch(manifest);
  EXPECT_EQ(again.items.at(0).action, FetchAction::downloaded);
  EXPECT_EQ(read_text(path), body);
  EXPECT_EQ(read_text(m_dir / "cache" / "quarantine" / "demo" / "2024" / "codes.txt"), "B000 Changed\n");
  EXPECT_EQ(find_fetched_file(m_db, "demo", 2024, "codes")->sha256, util::sha256_hex(body));
}

TEST_F(FetcherTest, AnUnrecordedCacheFileWithTheWrongContentIsQuarantined) {
  fs::create_directories(m_dir / "cache" / "demo" / "2024");
  std::ofstream(m_dir / "cache" / "demo" / "2024" / "codes.txt") << "B000 Changed\n";
  std::string body = "A000 Cholera\n";
  m_server.serve("/files/codes.txt", body);
  Manifest manifest = server_manifest(m_server, {{"codes", "/files/codes.txt", util::sha256_hex(body)}});
  EXPECT_EQ(fetch_error(manifest, options()).code(), ExitCode::integrity);
  EXPECT_EQ(recorded_count(), 0u);
  EXPECT_EQ(m_server.requests().size(), 0u);
  // The next run downloads a good copy.
  EXPECT_EQ(fetch(manifest).items.at(0).action, FetchAction::downloaded);
  EXPECT_EQ(read_text(m_dir / "cache" / "demo" / "2024" / "codes.txt"), body);
}

TEST_F(FetcherTest, RecordsAnUnpinnedFileWithAWarning) {
  m_server.serve("/files/codes.txt", "A000 Cholera\n");
  Manifest manifest = server_manifest(m_server, {{"codes", "/files/codes.txt", ""}});
  FetchSummary summary = fetch(manifest);
  auto record = find_fetched_file(m_db, "demo", 2024, "codes");
  ASSERT_TRUE(record);
  EXPECT_FALSE(record->pinned);
  ASSERT_EQ(summary.warnings.size(), 1u);
  EXPECT_NE(summary.warnings[0].find("demo 2024 codes: the manifest pins no checksum"), std::string::npos);
}

TEST_F(FetcherTest, VerifiesTheMemberOfAZipArchiveAndKeepsTheArchive) {
  std::string zip = read_text(shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip"));
  m_server.serve("/files/hcpcs.zip", zip);
  Manifest manifest = server_manifest(
      m_server, {{"annual", "/files/hcpcs.zip", k_hcpcs_member_sha256, "HCPC2019_*_ANWEB.txt"}});
  fetch(manifest);
  auto record = find_fetched_file(m_db, "demo", 2024, "annual");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->path.filename(), "hcpcs.zip");
  EXPECT_EQ(read_text(record->path), zip);
  EXPECT_EQ(record->sha256, k_hcpcs_member_sha256);
  EXPECT_EQ(record->member, k_hcpcs_member);
  EXPECT_EQ((*record).url, m_server.url("/files/hcpcs.zip"));
  EXPECT_EQ(record->bytes, static_cast<std::int64_t>(zip.size()));
}

TEST_F(FetcherTest, TwoRolesInOneArchiveDownloadItOnce) {
  m_server.serve("/files/hcpcs.zip",
                 read_text(shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip")));
  Manifest manifest =
      server_manifest(m_server, {{"annual", "/files/hcpcs.zip", k_hcpcs_member_sha256, k_hcpcs_member},
                                 {"notes", "/files/hcpcs.zip", "", "proc_notes_2019.txt"}});
  FetchSummary summary = fetch(manifest);
  EXPECT_EQ(summary.items.at(0).action, FetchAction::downloaded);
  EXPECT_EQ(summary.items.at(1).action, FetchAction::cached);
  EXPECT_EQ(m_server.request_count("/files/hcpcs.zip"), 1u);
  EXPECT_EQ(find_fetched_file(m_db, "demo", 2024, "notes")->member, "proc_notes_2019.txt");
}

TEST_F(FetcherTest, AnArchiveWithoutTheMemberIsAnIntegrityFailure) {
  m_server.serve("/files/hcpcs.zip",
                 read_text(shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip")));
  Manifest manifest = server_manifest(m_server, {{"annual", "/files/hcpcs.zip", "", "HCPC2020_*.txt"}});
  Error error = fetch_error(manifest, options());
  EXPECT_EQ(error.code(), ExitCode::integrity);
  EXPECT_NE(std::string(error.what()).find("no member matches 'HCPC2020_*.txt'"), std::string::npos)
      << error.what();
  EXPECT_TRUE(fs::exists(m_dir / "cache" / "quarantine" / "demo" / "2024" / "hcpcs.zip"));
  EXPECT_EQ(recorded_count(), 0u);
}

TEST_F(FetcherTest, UsesAMirrorFileInPlaceWithoutTheNetwork) {
  FetchOptions fetch_options = options();
  fetch_options.mirror = shared_data("cms");
  fetch_options.offline = true;
  const ManifestEntry* tabular = builtin_manifest().find("icd10cm", 2023, "tabular");
  FetchSummary summary = fetch_entries(m_db, {tabular}, fetch_options);
  EXPECT_EQ(summary.items.at(0).action, FetchAction::mirrored);
  auto record = find_fetched_file(m_db, "icd10cm", 2023, "tabular");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->path, fs::weakly_canonical(shared_data("cms/icd10cm/2023/icd10cm_tabular_2023.xml.gz")));
  EXPECT_EQ(record->origin, "mirror");
  EXPECT_TRUE(record->pinned);
  EXPECT_EQ(record->sha256, *tabular->sha256);
  EXPECT_FALSE(fs::exists(m_dir / "cache"));
}

TEST_F(FetcherTest, AMirrorCopyWithOtherContentFailsAndStaysWhereItIs) {
  fs::create_directories(m_dir / "mirror" / "demo" / "2024");
  std::ofstream(m_dir / "mirror" / "demo" / "2024" / "codes.txt") << "not the pinned file\n";
  Manifest manifest = server_manifest(m_server, {{"codes", "/files/codes.txt", k_wrong_sha256}});
  FetchOptions fetch_options = options();
  fetch_options.mirror = m_dir / "mirror";
  Error error = fetch_error(manifest, fetch_options);
  EXPECT_EQ(error.code(), ExitCode::integrity);
  EXPECT_NE(std::string(error.what()).find("mirror file"), std::string::npos) << error.what();
  EXPECT_TRUE(fs::exists(m_dir / "mirror" / "demo" / "2024" / "codes.txt"));
  EXPECT_EQ(m_server.requests().size(), 0u);
  EXPECT_EQ(recorded_count(), 0u);
}

TEST_F(FetcherTest, OfflineWithoutTheFileIsANetworkFailureNamingIt) {
  Manifest manifest =
      server_manifest(m_server, {{"codes", "/files/codes.txt", ""}, {"order", "/files/order.txt", ""}});
  FetchOptions fetch_options = options();
  fetch_options.offline = true;
  Error error = fetch_error(manifest, fetch_options);
  EXPECT_EQ(error.code(), ExitCode::network);
  EXPECT_NE(std::string(error.what()).find("demo 2024 codes"), std::string::npos) << error.what();
  EXPECT_NE(std::string(error.what()).find("demo 2024 order"), std::string::npos) << error.what();
  EXPECT_EQ(m_server.requests().size(), 0u);
}

TEST_F(FetcherTest, AnOptionalFileThatCannotBeHadIsSkippedAndARequiredOneIsNot) {
  m_server.serve("/files/codes.txt", "A000 Cholera\n");
  Manifest manifest = server_manifest(m_server, {{"codes", "/files/codes.txt", ""},
                                                 {"order", "/files/absent.txt", "", "", /*optional=*/true}});
  FetchSummary summary = fetch(manifest);
  EXPECT_EQ(summary.items.at(1).action, FetchAction::skipped);
  EXPECT_NE(summary.items.at(1).note.find("HTTP 404"), std::string::npos) << summary.items.at(1).note;
  EXPECT_EQ(summary.n_skipped, 1);
  EXPECT_EQ(recorded_count(), 1u);
  Manifest required = server_manifest(m_server, {{"order", "/files/absent.txt", ""}});
  EXPECT_EQ(fetch_error(required, options()).code(), ExitCode::network);
}

TEST_F(FetcherTest, AFileAlreadyInTheCacheIsVerifiedInsteadOfDownloaded) {
  fs::create_directories(m_dir / "cache" / "demo" / "2024");
  std::ofstream(m_dir / "cache" / "demo" / "2024" / "codes.txt") << "A000 Cholera\n";
  Manifest manifest =
      server_manifest(m_server, {{"codes", "/files/codes.txt", util::sha256_hex("A000 Cholera\n")}});
  FetchSummary summary = fetch(manifest);
  EXPECT_EQ(summary.items.at(0).action, FetchAction::cached);
  EXPECT_EQ(m_server.requests().size(), 0u);
  EXPECT_TRUE(find_fetched_file(m_db, "demo", 2024, "codes")->pinned);
}

TEST_F(FetcherTest, ListingShowsMissingVerifiedAndChangedFiles) {
  m_server.serve("/files/codes.txt", "A000 Cholera\n");
  m_server.serve("/files/order.txt", "00001 A00\n");
  Manifest manifest =
      server_manifest(m_server, {{"codes", "/files/codes.txt", util::sha256_hex("A000 Cholera\n")},
                                 {"order", "/files/order.txt", ""},
                                 {"index", "/files/index.txt", ""}});
  auto entries = all_of(manifest);
  fetch_entries(m_db, {entries[0], entries[1]}, options());
  auto listing = list_entries(m_db, entries);
  EXPECT_EQ(listing.at(0).status, SourceStatus::verified);
  EXPECT_EQ(listing.at(1).status, SourceStatus::fetched);
  EXPECT_EQ(listing.at(2).status, SourceStatus::missing);
  fs::remove(listing.at(1).file->path);
  EXPECT_EQ(list_entries(m_db, entries).at(1).status, SourceStatus::changed);
}

TEST(FileContent, HashesTheUncompressedBytesOfAGzipFile) {
  FileContent content = hash_content(shared_data("cms/icd10pcs/2023/icd10pcs_codes_2023.txt.gz"), "");
  EXPECT_EQ(content.sha256, *builtin_manifest().find("icd10pcs", 2023, "codes")->sha256);
  EXPECT_TRUE(content.member.empty());
  EXPECT_EQ(hash_content(shared_data("cms/icd10pcs/2023/icd10pcs_index_2023.xml.gz"), "").sha256,
            *builtin_manifest().find("icd10pcs", 2023, "index")->sha256);
}

TEST(FileContent, HashesOneMemberOfAZipArchive) {
  fs::path zip = shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip");
  FileContent content = hash_content(zip, "HCPC*_ANWEB.txt");
  EXPECT_EQ(content.sha256, k_hcpcs_member_sha256);
  EXPECT_EQ(content.member, k_hcpcs_member);
  EXPECT_EQ(content.content_bytes, 3742917);
}

TEST(FileContent, APatternMatchingSeveralMembersIsAnIntegrityFailure) {
  fs::path zip = shared_data("cms/hcpcs/2019/2019-Alpha-Numeric-HCPCS-File.zip");
  try {
    hash_content(zip, "HCPC*.txt");
    ADD_FAILURE() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::integrity);
    EXPECT_NE(std::string(e.what()).find("HCPC2019_CONTR_ANWEB.txt, HCPC2019_README.txt"), std::string::npos);
  }
}

}  // namespace
}  // namespace medcode::fetch
