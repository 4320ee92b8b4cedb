// The source manifest: which official files make up each code system's release year, where CMS publishes
// them and the SHA-256 of their content (config/sources.yaml, built in; format in docs/fetch.md).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medcode::fetch {

struct ManifestEntry {
  std::string system;  // icd10cm | icd10pcs | hcpcs
  int year = 0;
  std::string role;     // tabular | index | order | codes | annual
  std::string url;      // the file or archive as published
  std::string archive;  // its file name in the cache and a mirror (from the URL unless the manifest says)
  std::string member;   // pattern of the file inside a zip archive ('*', '?'); empty for a plain file
  std::string file;     // canonical plain file name
  std::optional<std::string> sha256;  // of the content (member or uncompressed file); none: not pinned
  bool optional = false;              // fetch goes on without it when it cannot be had

  bool is_archive() const { return !member.empty(); }
  // "icd10cm 2023 tabular", for messages.
  std::string label() const;
};

struct Manifest {
  std::string source;                  // the file it was read from, or "built-in"
  std::vector<ManifestEntry> entries;  // in manifest order: system, year, entry

  // Systems in manifest order; years of a system ascending.
  std::vector<std::string> systems() const;
  std::vector<int> years(std::string_view system) const;
  const ManifestEntry* find(std::string_view system, int year, std::string_view role) const;
};

// Parses and validates manifest text; Error(bad_input) names `source_name` and the key at fault
// (e.g. "systems.icd10cm.2023[1].sha256").
Manifest parse_manifest(std::string_view yaml_text, const std::string& source_name);
Manifest load_manifest(const std::filesystem::path& path);
// The manifest built into the binary from config/sources.yaml.
const Manifest& builtin_manifest();
std::string_view builtin_manifest_text();

// True when a zip member's path, or its file name, matches a manifest member pattern.
bool member_matches(std::string_view pattern, std::string_view member_path);

// Which years a selection without --year takes: each system's newest (fetch) or all of them (--list).
enum class YearDefault { newest, all };

// The entries a fetch works on. No systems: every system of the manifest (with years: those that have
// them); no years: as `when_no_year` says. A system or year the manifest does not have is Error(usage)
// listing the choices.
std::vector<const ManifestEntry*> select_entries(const Manifest& manifest,
                                                 const std::vector<std::string>& systems,
                                                 const std::vector<int>& years,
                                                 YearDefault when_no_year = YearDefault::newest);

}  // namespace medcode::fetch
