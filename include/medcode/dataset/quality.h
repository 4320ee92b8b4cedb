// Data-quality checks over dataset items, shared by `medcode score` (entries of the store) and `medcode
// check` (lines of a JSON Lines file): short or empty texts, texts that give the code away, duplicates,
// conflicting labels, leakage across splits, the label distribution, and codes looked up in a release.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/store/database.h"

namespace medcode::dataset {

struct QualityFinding {
  std::string check;     // empty_text, short_text, code_in_text, exact_duplicate, near_duplicate,
                         // conflicting_labels, invalid_code, not_billable, split_leakage
  std::string severity;  // error | warning
  std::int64_t count = 0;
  std::vector<std::int64_t> examples;  // entry ids, at most five
};

struct LabelDistribution {
  std::int64_t codes = 0;
  std::int64_t entries = 0;
  std::int64_t min_per_code = 0;
  double median_per_code = 0;
  std::int64_t max_per_code = 0;
  std::int64_t codes_with_one_entry = 0;
  double top_10_percent_share = 0;  // share of entries held by the 10% most frequent codes
};

struct QualityReport {
  std::vector<QualityFinding> findings;  // only checks that found something
  LabelDistribution labels;
  bool has_errors() const;
};

nlohmann::json to_json(const LabelDistribution& labels);

// One item the checks look at: an entry of the store or a line of a file.
struct QualityItem {
  std::int64_t id = 0;  // the entry id, or the line number
  std::string_view text;
  std::span<const std::string> codes;     // canonical; the first is the source code
  std::optional<std::string_view> split;  // train | val | test, when the item has one
};

// What one check found in one item.
struct QualityFlag {
  std::string_view check;
  std::string_view severity;  // error | warning
  std::int64_t id = 0;
  std::string message;  // names what is at fault, and the earlier item for duplicates
};
using QualitySink = std::function<void(const QualityFlag&)>;

// The checks that read the items one at a time, in order. Memory grows with the distinct texts (a 64-bit
// hash, the first item and its codes) and the distinct codes, not with the texts' length, so a file can be
// streamed.
class QualityChecker {
 public:
  // `id_name` is how messages name an earlier item: "entry" or "line".
  QualityChecker(std::string id_name, QualitySink sink);

  void add(const QualityItem& item);
  LabelDistribution labels() const;

 private:
  struct FirstSeen {
    std::int64_t id = 0;
    std::string codes;                 // joined with ", "
    std::optional<std::string> split;  // a copy: the item's text and split live only as long as its line
  };
  void flag(std::string_view check, std::string_view severity, std::int64_t id, std::string message);
  // False when an item with the same text came first (it is flagged here).
  bool check_exact_duplicate(const QualityItem& item, const std::string& text);
  void check_near_duplicate(const QualityItem& item, const std::string& text);

  std::string m_id_name;
  QualitySink m_sink;
  std::unordered_map<std::uint64_t, FirstSeen> m_by_text;      // hash of the normalised text
  std::unordered_map<std::uint64_t, std::int64_t> m_by_terms;  // hash of the sorted BM25 terms → first id
  std::unordered_map<std::string, std::int64_t> m_per_code;
  std::int64_t m_items = 0;
};

enum class CodeStatus { billable, not_billable, missing };

// Looks codes up in imported releases; releases and codes are each looked up once.
class CodeLookup {
 public:
  explicit CodeLookup(store::Database& db);

  // The release of `system` for `year`, or its newest; nullopt when it is not imported.
  const std::optional<codes::ReleaseInfo>& release(codes::System system, std::optional<int> year);
  // `code` must be canonical.
  CodeStatus status(const codes::ReleaseInfo& release, const std::string& code);

 private:
  store::Database& m_db;
  store::Statement m_find;
  std::map<std::pair<codes::System, std::optional<int>>, std::optional<codes::ReleaseInfo>> m_releases;
  std::map<std::pair<std::int64_t, std::string>, CodeStatus> m_codes;
};

}  // namespace medcode::dataset
