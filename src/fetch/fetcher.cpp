// The fetch of each manifest entry: recorded and intact → nothing to do; else mirror, cache or download,
// then the pin check, quarantine on mismatch, and the fetched_files row.
#include "medcode/fetch/fetcher.h"

#include <spdlog/spdlog.h>

#include <fmt/ranges.h>

#include "medcode/fetch/file_content.h"
#include "medcode/store/database.h"
#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::fetch {

namespace fs = std::filesystem;

namespace {

fs::path absolute_path(const fs::path& path) { return fs::weakly_canonical(fs::absolute(path)); }

// Why a recorded file can no longer stand for the entry (empty when it still can), and whether the file
// itself was altered in place.
struct Staleness {
  std::string reason;
  bool altered = false;
};

Staleness check_record(const ManifestEntry& entry, const FetchedFile& record) {
  if (record.url != entry.url) return {"the manifest now names another URL"};
  std::error_code error;
  if (!fs::is_regular_file(record.path, error))
    return {fmt::format("the recorded file {} is gone", record.path.string())};
  if (static_cast<std::int64_t>(fs::file_size(record.path, error)) != record.bytes) {
    return {fmt::format("the recorded file {} changed size", record.path.string()), true};
  }
  try {
    if (hash_content(record.path, record.member).sha256 != record.sha256) {
      return {fmt::format("the recorded file {} changed", record.path.string()), true};
    }
  } catch (const Error& e) {
    return {e.what(), true};
  }
  if (entry.sha256 && *entry.sha256 != record.sha256) return {"the manifest now pins another checksum"};
  return {};
}

// The names a mirror may hold an entry's file under, each with the member pattern to hash it by.
std::vector<std::pair<fs::path, std::string>> mirror_candidates(const fs::path& mirror,
                                                                const ManifestEntry& entry) {
  fs::path dir = mirror / entry.system / std::to_string(entry.year);
  std::vector<std::pair<fs::path, std::string>> candidates{{dir / entry.file, ""},
                                                           {dir / (entry.file + ".gz"), ""}};
  if (entry.archive != entry.file) candidates.emplace_back(dir / entry.archive, entry.member);
  bool plain_member = entry.member.find_first_of("*?[") == std::string::npos;
  if (entry.is_archive() && plain_member && entry.member != entry.file)
    candidates.emplace_back(dir / entry.member, "");
  return candidates;
}

void move_file(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  std::error_code error;
  fs::remove(to, error);
  fs::rename(from, to, error);
  if (error) {  // another file system: copy, then remove
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
    fs::remove(from);
  }
}

class Fetcher {
 public:
  Fetcher(store::Database& db, const FetchOptions& options, FetchSummary& summary)
      : m_db(db), m_options(options), m_summary(summary) {}

  // The entry fetched and recorded; nullopt when offline and neither mirror nor cache has it.
  std::optional<FetchItem> fetch(const ManifestEntry& entry) {
    if (auto item = verify_recorded(entry)) return item;
    if (auto item = from_mirror(entry)) return item;
    if (auto item = from_cache(entry)) return item;
    if (m_options.offline) return std::nullopt;
    return download(entry);
  }

  std::vector<fs::path> looked_in(const ManifestEntry& entry) const {
    std::vector<fs::path> places;
    if (m_options.mirror) {
      for (const auto& candidate : mirror_candidates(*m_options.mirror, entry))
        places.push_back(candidate.first);
    }
    places.push_back(cache_path(entry));
    return places;
  }

 private:
  fs::path cache_path(const ManifestEntry& entry) const {
    return m_options.cache_dir / entry.system / std::to_string(entry.year) / entry.archive;
  }

  std::optional<FetchItem> verify_recorded(const ManifestEntry& entry) {
    std::optional<FetchedFile> record = find_fetched_file(m_db, entry.system, entry.year, entry.role);
    if (!record) return std::nullopt;
    Staleness staleness = check_record(entry, *record);
    if (!staleness.reason.empty()) {
      spdlog::warn("{}: {}; fetching it again", entry.label(), staleness.reason);
      // A download of ours altered in place is evidence, not a copy to take again from the cache.
      if (staleness.altered && record->origin == "download") quarantine(entry, record->path);
      return std::nullopt;
    }
    if (entry.sha256 && !record->pinned) {  // the manifest has pinned it since: the recorded hash matches
      record->pinned = true;
      record_fetched_file(m_db, *record, m_options.run_id);
    }
    spdlog::info("{}: verified {}", entry.label(), record->path.string());
    return FetchItem{entry, FetchAction::verified, record, 0, {}};
  }

  std::optional<FetchItem> from_mirror(const ManifestEntry& entry) {
    if (!m_options.mirror) return std::nullopt;
    for (const auto& [path, pattern] : mirror_candidates(*m_options.mirror, entry)) {
      if (!fs::is_regular_file(path)) continue;
      FileContent content = hash_content(path, pattern);
      // A mirror is not ours to rearrange: a bad copy is reported where it lies.
      check_pin(entry, path, content, "mirror file ", "");
      return record(entry, path, content, "mirror", FetchAction::mirrored, 0);
    }
    return std::nullopt;
  }

  std::optional<FetchItem> from_cache(const ManifestEntry& entry) {
    fs::path path = cache_path(entry);
    if (!fs::is_regular_file(path)) return std::nullopt;
    FileContent content = verified_download(entry, path);
    return record(entry, path, content, "download", FetchAction::cached, 0);
  }

  FetchItem download(const ManifestEntry& entry) {
    fs::path path = cache_path(entry);
    spdlog::info("{}: downloading {}", entry.label(), entry.url);
    DownloadResult result = download_file(entry.url, path, m_options.download);
    m_summary.bytes_downloaded += result.bytes_transferred;
    FileContent content = verified_download(entry, path);
    return record(entry, path, content, "download", FetchAction::downloaded, result.bytes_transferred);
  }

  // Hashes a file of the cache and checks the pin; a file that fails is moved to the quarantine.
  FileContent verified_download(const ManifestEntry& entry, const fs::path& path) {
    FileContent content;
    try {
      content = hash_content(path, entry.member);
    } catch (const Error& e) {
      if (e.code() != ExitCode::integrity) throw;
      fail(ExitCode::integrity, "{} ({}); moved to {}", e.what(), entry.label(),
           quarantine(entry, path).string());
    }
    if (entry.sha256 && *entry.sha256 != content.sha256) {
      fs::path moved = quarantine(entry, path);
      check_pin(entry, path, content, "", fmt::format("; moved to {}", moved.string()));
    }
    return content;
  }

  void check_pin(const ManifestEntry& entry, const fs::path& path, const FileContent& content,
                 std::string_view kind, const std::string& suffix) const {
    if (!entry.sha256 || *entry.sha256 == content.sha256) return;
    std::string where = content.member.empty() ? path.string() : path.string() + ":" + content.member;
    fail(ExitCode::integrity, "checksum mismatch for {}{} ({}): expected sha256 {}, got {}{}", kind, where,
         entry.label(), *entry.sha256, content.sha256, suffix);
  }

  fs::path quarantine(const ManifestEntry& entry, const fs::path& path) {
    fs::path target =
        m_options.cache_dir / "quarantine" / entry.system / std::to_string(entry.year) / path.filename();
    forget_fetched_files_at(m_db, absolute_path(path));  // other roles recorded from the same archive
    move_file(path, target);
    return absolute_path(target);
  }

  FetchItem record(const ManifestEntry& entry, const fs::path& path, const FileContent& content,
                   const std::string& origin, FetchAction action, std::int64_t transferred) {
    FetchedFile file;
    file.system = entry.system;
    file.year = entry.year;
    file.role = entry.role;
    file.url = entry.url;
    file.member = content.member;
    file.path = absolute_path(path);
    file.bytes = static_cast<std::int64_t>(fs::file_size(path));
    file.sha256 = content.sha256;
    file.origin = origin;
    file.pinned = entry.sha256.has_value();
    file.fetched_at = util::utc_now_iso8601();
    record_fetched_file(m_db, file, m_options.run_id);
    if (!file.pinned) {
      m_summary.warnings.push_back(
          fmt::format("{}: the manifest pins no checksum; recorded {} with sha256 {}", entry.label(),
                      file.path.string(), file.sha256));
    }
    spdlog::info("{}: {} {}", entry.label(), fetch_action_name(action), file.path.string());
    return FetchItem{entry, action, file, transferred, {}};
  }

  store::Database& m_db;
  const FetchOptions& m_options;
  FetchSummary& m_summary;
};

void count(FetchSummary& summary, const FetchItem& item) {
  switch (item.action) {
    case FetchAction::downloaded:
      ++summary.n_downloaded;
      break;
    case FetchAction::mirrored:
      ++summary.n_mirrored;
      break;
    case FetchAction::cached:
      ++summary.n_cached;
      break;
    case FetchAction::verified:
      ++summary.n_verified;
      break;
    case FetchAction::skipped:
      ++summary.n_skipped;
      break;
  }
  summary.items.push_back(item);
}

FetchItem skipped(const ManifestEntry& entry, std::string note, FetchSummary& summary) {
  summary.warnings.push_back(fmt::format("{}: skipped (optional): {}", entry.label(), note));
  return FetchItem{entry, FetchAction::skipped, std::nullopt, 0, std::move(note)};
}

}  // namespace

const char* fetch_action_name(FetchAction action) {
  switch (action) {
    case FetchAction::downloaded:
      return "downloaded";
    case FetchAction::mirrored:
      return "mirrored";
    case FetchAction::cached:
      return "cached";
    case FetchAction::verified:
      return "verified";
    case FetchAction::skipped:
      return "skipped";
  }
  return "?";
}

const char* source_status_name(SourceStatus status) {
  switch (status) {
    case SourceStatus::missing:
      return "missing";
    case SourceStatus::fetched:
      return "fetched";
    case SourceStatus::verified:
      return "verified";
    case SourceStatus::changed:
      return "changed";
  }
  return "?";
}

nlohmann::json FetchSummary::counters() const {
  return {{"downloaded", n_downloaded}, {"mirrored", n_mirrored}, {"cached", n_cached},
          {"verified", n_verified},     {"skipped", n_skipped},   {"bytes", bytes_downloaded}};
}

FetchSummary fetch_entries(store::Database& db, const std::vector<const ManifestEntry*>& entries,
                           const FetchOptions& options) {
  FetchSummary summary;
  Fetcher fetcher(db, options, summary);
  std::vector<std::string> missing;
  for (const ManifestEntry* entry : entries) {
    std::optional<FetchItem> item;
    try {
      item = fetcher.fetch(*entry);
    } catch (const Error& e) {
      // An optional file may be unobtainable; one that fails its checksum is never waved through.
      if (!entry->optional || e.code() != ExitCode::network) throw;
      count(summary, skipped(*entry, e.what(), summary));
      continue;
    }
    if (item) {
      count(summary, *item);
    } else if (entry->optional) {
      count(summary, skipped(*entry, "offline, and not in the mirror", summary));
    } else {
      std::vector<std::string> places;
      for (const auto& place : fetcher.looked_in(*entry)) places.push_back(place.string());
      missing.push_back(fmt::format("{} (looked for {})", entry->label(), fmt::join(places, ", ")));
    }
  }
  if (!missing.empty()) {
    fail(ExitCode::network, "offline, and not in the mirror: {}", fmt::join(missing, "; "));
  }
  return summary;
}

std::vector<SourceListing> list_entries(store::Database& db,
                                        const std::vector<const ManifestEntry*>& entries) {
  std::vector<SourceListing> listing;
  for (const ManifestEntry* entry : entries) {
    SourceListing item{*entry, SourceStatus::missing,
                       find_fetched_file(db, entry->system, entry->year, entry->role)};
    if (item.file) {
      if (!check_record(*entry, *item.file).reason.empty()) {
        item.status = SourceStatus::changed;
      } else {
        item.status = entry->sha256 ? SourceStatus::verified : SourceStatus::fetched;
      }
    }
    listing.push_back(std::move(item));
  }
  return listing;
}

}  // namespace medcode::fetch
