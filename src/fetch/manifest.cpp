// Reading and validating the source manifest (YAML, through yaml-cpp), and choosing entries from it.
#include "medcode/fetch/manifest.h"

#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <charconv>
#include <set>

#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/text.h"

namespace medcode::fetch {

namespace {

constexpr std::string_view k_builtin_source = "built-in manifest (config/sources.yaml)";

// Where a manifest problem is: the file, the line (when yaml-cpp knows it) and the dotted key.
struct Location {
  const std::string& source;
  std::string key;
  int line = -1;

  Location at(const std::string& child, const YAML::Node& node) const {
    Location location{source, key.empty() ? child : key + child, line};
    if (node.IsDefined() && node.Mark().line >= 0) location.line = node.Mark().line + 1;
    return location;
  }
  [[noreturn]] void fail(std::string_view problem) const {
    if (line > 0)
      medcode::fail(ExitCode::bad_input, "manifest {}: line {}: {}: {}", source, line, key, problem);
    medcode::fail(ExitCode::bad_input, "manifest {}: {}: {}", source, key, problem);
  }
};

bool is_plain_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\\') == std::string_view::npos;
}

bool is_identifier(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_hex64(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

std::string scalar(const YAML::Node& node, const Location& where) {
  if (!node.IsScalar()) where.fail("expected a text value");
  return node.Scalar();
}

// The file name a URL serves: its last path segment, without query or fragment.
std::string url_file_name(std::string_view url) {
  std::size_t end = url.find_first_of("?#");
  std::string_view path = url.substr(0, end);
  std::size_t scheme = path.find("://");
  if (scheme != std::string_view::npos) path = path.substr(scheme + 3);
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(slash + 1));
}

void check_keys(const YAML::Node& map, const std::set<std::string>& allowed, const Location& where) {
  for (const auto& item : map) {
    std::string key = item.first.as<std::string>();
    if (!allowed.count(key)) {
      where.at("." + key, item.first)
          .fail(fmt::format("unknown key (expected one of: {})", fmt::join(allowed, ", ")));
    }
  }
}

std::optional<std::string> parse_sha256(const YAML::Node& node, const Location& where) {
  if (!node.IsDefined() || node.IsNull()) return std::nullopt;
  std::string value = scalar(node, where);
  if (!is_hex64(value)) where.fail(fmt::format("expected 64 hexadecimal digits or null, got '{}'", value));
  return util::to_lower(value);
}

void parse_locations(ManifestEntry& entry, const YAML::Node& node, const Location& where) {
  Location url_at = where.at(".url", node["url"]);
  if (!node["url"]) url_at.fail("missing");
  entry.url = scalar(node["url"], url_at);
  if (entry.url.rfind("https://", 0) != 0 && entry.url.rfind("http://", 0) != 0) {
    url_at.fail(fmt::format("expected an http:// or https:// URL, got '{}'", entry.url));
  }
  if (entry.url.find('#') != std::string::npos)
    url_at.fail("a URL fragment ('#') is never downloaded; remove it");
  Location archive_at = where.at(".archive", node["archive"]);
  entry.archive = node["archive"] ? scalar(node["archive"], archive_at) : url_file_name(entry.url);
  if (!is_plain_name(entry.archive)) {
    archive_at.fail(fmt::format("'{}' is not a file name; give `archive:` for a URL that does not end in one",
                                entry.archive));
  }
  Location member_at = where.at(".member", node["member"]);
  if (node["member"]) entry.member = scalar(node["member"], member_at);
  bool zip = util::is_zip_path(entry.archive);
  if (zip && entry.member.empty())
    member_at.fail("missing: the URL is a zip archive, name the file inside it");
  if (!zip && !entry.member.empty()) {
    member_at.fail(
        fmt::format("'{}' is not a zip archive; a member is only for zip archives", entry.archive));
  }
}

ManifestEntry parse_entry(const YAML::Node& node, const std::string& system, int year,
                          const Location& where) {
  if (!node.IsMap()) where.fail("expected a mapping with role, url, file and sha256");
  check_keys(node, {"role", "url", "archive", "member", "file", "sha256", "optional"}, where);
  ManifestEntry entry;
  entry.system = system;
  entry.year = year;
  Location role_at = where.at(".role", node["role"]);
  if (!node["role"]) role_at.fail("missing");
  entry.role = scalar(node["role"], role_at);
  if (!is_identifier(entry.role)) role_at.fail(fmt::format("'{}' is not a role name", entry.role));
  parse_locations(entry, node, where);
  Location file_at = where.at(".file", node["file"]);
  if (!node["file"]) file_at.fail("missing");
  entry.file = scalar(node["file"], file_at);
  if (!is_plain_name(entry.file)) file_at.fail(fmt::format("'{}' is not a plain file name", entry.file));
  Location sha_at = where.at(".sha256", node["sha256"]);
  if (!node["sha256"]) sha_at.fail("missing (write null when the checksum is not known)");
  entry.sha256 = parse_sha256(node["sha256"], sha_at);
  if (node["optional"]) {
    Location optional_at = where.at(".optional", node["optional"]);
    try {
      entry.optional = node["optional"].as<bool>();
    } catch (const YAML::Exception&) {
      optional_at.fail("expected true or false");
    }
  }
  return entry;
}

int parse_year(const YAML::Node& key, const Location& where) {
  std::string text = scalar(key, where);
  int year = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), year);
  if (error != std::errc() || end != text.data() + text.size() || year < 1900 || year > 2999) {
    where.fail(fmt::format("'{}' is not a year", text));
  }
  return year;
}

void parse_system(Manifest& manifest, const std::string& system, const YAML::Node& years,
                  const Location& where) {
  if (!is_identifier(system)) where.fail("a system name is lower-case letters and digits");
  if (!years.IsMap() || years.size() == 0) where.fail("expected a mapping of release years to file lists");
  for (const auto& year_item : years) {
    Location year_at = where.at("." + year_item.first.Scalar(), year_item.first);
    int year = parse_year(year_item.first, year_at);
    const YAML::Node& files = year_item.second;
    if (!files.IsSequence() || files.size() == 0) year_at.fail("expected a list of files");
    std::set<std::string> roles;
    for (std::size_t i = 0; i < files.size(); ++i) {
      Location entry_at = year_at.at(fmt::format("[{}]", i), files[i]);
      ManifestEntry entry = parse_entry(files[i], system, year, entry_at);
      if (!roles.insert(entry.role).second) {
        entry_at.at(".role", files[i]["role"]).fail(fmt::format("role '{}' appears twice", entry.role));
      }
      manifest.entries.push_back(std::move(entry));
    }
  }
}

YAML::Node load_yaml(std::string_view text, const std::string& source) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    fail(ExitCode::bad_input, "manifest {}: line {}: {}", source, e.mark.line + 1, e.msg);
  }
}

}  // namespace

std::string ManifestEntry::label() const { return fmt::format("{} {} {}", system, year, role); }

std::vector<std::string> Manifest::systems() const {
  std::vector<std::string> names;
  for (const auto& entry : entries) {
    if (std::find(names.begin(), names.end(), entry.system) == names.end()) names.push_back(entry.system);
  }
  return names;
}

std::vector<int> Manifest::years(std::string_view system) const {
  std::set<int> years;
  for (const auto& entry : entries) {
    if (entry.system == system) years.insert(entry.year);
  }
  return {years.begin(), years.end()};
}

const ManifestEntry* Manifest::find(std::string_view system, int year, std::string_view role) const {
  for (const auto& entry : entries) {
    if (entry.system == system && entry.year == year && entry.role == role) return &entry;
  }
  return nullptr;
}

Manifest parse_manifest(std::string_view yaml_text, const std::string& source_name) {
  YAML::Node root = load_yaml(yaml_text, source_name);
  Location top{source_name, ""};
  if (!root.IsMap()) top.at("(top level)", root).fail("expected a mapping with `version` and `systems`");
  check_keys(root, {"version", "systems"}, top);
  if (root["version"]) {
    Location version_at = top.at("version", root["version"]);
    if (scalar(root["version"], version_at) != "1") version_at.fail("this medcode reads version 1");
  }
  Location systems_at = top.at("systems", root["systems"]);
  if (!root["systems"] || !root["systems"].IsMap() || root["systems"].size() == 0) {
    systems_at.fail("missing: expected a mapping of code systems");
  }
  Manifest manifest;
  manifest.source = source_name;
  for (const auto& system_item : root["systems"]) {
    std::string system = system_item.first.as<std::string>();
    parse_system(manifest, system, system_item.second, systems_at.at("." + system, system_item.first));
  }
  return manifest;
}

Manifest load_manifest(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path))
    fail(ExitCode::usage, "manifest {}: no such file", path.string());
  return parse_manifest(util::read_file(path), path.string());
}

const Manifest& builtin_manifest() {
  static const Manifest manifest = parse_manifest(builtin_manifest_text(), std::string(k_builtin_source));
  return manifest;
}

bool member_matches(std::string_view pattern, std::string_view member_path) {
  std::string pattern_text(pattern);
  std::string path(member_path);
  if (::fnmatch(pattern_text.c_str(), path.c_str(), 0) == 0) return true;
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return false;
  return ::fnmatch(pattern_text.c_str(), path.c_str() + slash + 1, 0) == 0;
}

std::vector<const ManifestEntry*> select_entries(const Manifest& manifest,
                                                 const std::vector<std::string>& systems,
                                                 const std::vector<int>& years, YearDefault when_no_year) {
  std::vector<std::string> known = manifest.systems();
  for (const auto& system : systems) {
    if (std::find(known.begin(), known.end(), system) == known.end()) {
      fail(ExitCode::usage, "unknown code system '{}'; {} has: {}", system, manifest.source,
           fmt::join(known, ", "));
    }
  }
  std::vector<std::string> chosen = systems.empty() ? known : systems;
  std::vector<const ManifestEntry*> selected;
  for (const auto& system : chosen) {
    std::vector<int> available = manifest.years(system);
    std::vector<int> wanted = years;
    if (years.empty())
      wanted = when_no_year == YearDefault::all ? available : std::vector<int>{available.back()};
    for (int year : wanted) {
      bool has_year = std::find(available.begin(), available.end(), year) != available.end();
      // With no system named, --year picks the systems that have that year.
      if (!has_year && systems.empty()) continue;
      if (!has_year) {
        fail(ExitCode::usage, "{} has no release year {} in {}; choose from: {}", system, year,
             manifest.source, fmt::join(available, ", "));
      }
      for (const auto& entry : manifest.entries) {
        if (entry.system == system && entry.year == year) selected.push_back(&entry);
      }
    }
  }
  if (selected.empty()) {
    std::vector<std::string> choices;
    for (const auto& system : known)
      choices.push_back(fmt::format("{} {}", system, fmt::join(manifest.years(system), "/")));
    fail(ExitCode::usage, "no code system in {} has release year {}; choose from: {}", manifest.source,
         fmt::join(years, ", "), fmt::join(choices, "; "));
  }
  return selected;
}

}  // namespace medcode::fetch
