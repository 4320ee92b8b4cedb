// Fetching the files of a manifest: verify what the store already records, else take the file from a
// mirror folder, else from the download cache, else download it; check the pin, record it in fetched_files.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medcode/fetch/downloader.h"
#include "medcode/fetch/file_registry.h"
#include "medcode/fetch/manifest.h"

namespace medcode::store {
class Database;
}

namespace medcode::fetch {

struct FetchOptions {
  std::optional<std::filesystem::path> mirror;  // DIR/<system>/<year>/<name>, tried before the network
  std::filesystem::path cache_dir;              // downloads: <cache>/<system>/<year>/<archive>
  bool offline = false;                         // never touch the network: mirror (and cache) only
  DownloadOptions download;
  std::optional<std::int64_t> run_id;
};

enum class FetchAction {
  downloaded,  // fetched over the network into the cache
  mirrored,    // found in the mirror, used in place
  cached,      // already in the download cache (another role of the same archive, or an earlier run)
  verified,    // recorded by an earlier fetch, still present and unchanged: nothing fetched
  skipped,     // optional file that could not be had (see note)
};
const char* fetch_action_name(FetchAction action);

struct FetchItem {
  ManifestEntry entry;
  FetchAction action = FetchAction::skipped;
  std::optional<FetchedFile> file;  // what is recorded now; none when skipped
  std::int64_t bytes_transferred = 0;
  std::string note;  // why it was skipped
};

struct FetchSummary {
  std::vector<FetchItem> items;
  std::vector<std::string> warnings;  // unpinned files, skipped optional files
  int n_downloaded = 0;
  int n_mirrored = 0;
  int n_cached = 0;
  int n_verified = 0;
  int n_skipped = 0;
  std::int64_t bytes_downloaded = 0;  // over the network, including retries
  nlohmann::json counters() const;
};

// Fetches each entry, in order, recording each file as soon as it is verified. A content checksum that
// differs from the pin moves the file to <cache>/quarantine/ (a mirror file is left where it is), records
// nothing for it and throws Error(integrity) naming the file and both hashes. Offline, required files that
// are in neither the mirror nor the cache are Error(network) naming all of them.
FetchSummary fetch_entries(store::Database& db, const std::vector<const ManifestEntry*>& entries,
                           const FetchOptions& options);

// Where a manifest entry stands in the store, for `fetch --list`.
enum class SourceStatus {
  missing,   // not recorded
  fetched,   // recorded, present and unchanged; no pin to check it against
  verified,  // recorded, present, unchanged and matching the manifest's pin
  changed,   // recorded, but the file is gone, altered or no longer what the manifest names
};
const char* source_status_name(SourceStatus status);

struct SourceListing {
  ManifestEntry entry;
  SourceStatus status = SourceStatus::missing;
  std::optional<FetchedFile> file;
};

std::vector<SourceListing> list_entries(store::Database& db,
                                        const std::vector<const ManifestEntry*>& entries);

}  // namespace medcode::fetch
