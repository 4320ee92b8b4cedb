// Data-quality checks over dataset entries: each check counts the entries it flags and keeps a few examples.
#include <algorithm>
#include <cctype>
#include <map>
#include <tuple>
#include <unordered_map>

#include "medcode/dataset/export.h"
#include "medcode/dataset/score.h"
#include "medcode/util/text.h"

namespace medcode::dataset {

namespace {

constexpr std::size_t k_short_text = 10;  // characters
constexpr std::size_t k_examples = 5;

struct Entry {
  std::int64_t id = 0;
  std::string text;
  std::string code;
  std::string system;
  int year = 0;
};

class Findings {
 public:
  void flag(const std::string& check, const std::string& severity, std::int64_t entry_id) {
    QualityFinding& finding = m_findings[check];
    finding.check = check;
    finding.severity = severity;
    ++finding.count;
    if (finding.examples.size() < k_examples) finding.examples.push_back(entry_id);
  }
  std::vector<QualityFinding> take() {
    std::vector<QualityFinding> out;
    for (auto& [check, finding] : m_findings) out.push_back(std::move(finding));
    std::stable_sort(out.begin(), out.end(), [](const QualityFinding& a, const QualityFinding& b) {
      return a.severity < b.severity;
    });
    return out;
  }

 private:
  std::map<std::string, QualityFinding> m_findings;
};

bool contains_word(const std::string& text, const std::string& word) {
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    bool start = at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]));
    std::size_t after = at + word.size();
    bool end = after >= text.size() || !std::isalnum(static_cast<unsigned char>(text[after]));
    if (start && end) return true;
  }
  return false;
}

// The code as a reader would spot it in text: canonical ("E11.9") or without its dot ("E119").
bool gives_code_away(const Entry& entry) {
  std::string upper = util::to_upper(entry.text);
  std::string undotted = entry.code;
  undotted.erase(std::remove(undotted.begin(), undotted.end(), '.'), undotted.end());
  return contains_word(upper, entry.code) || (undotted.size() >= 4 && contains_word(upper, undotted));
}

std::vector<Entry> load(store::Database& db, const std::optional<std::string>& task) {
  std::string sql = "SELECT id, text, source_code, source_system, source_year FROM dataset_entries";
  if (task) sql += " WHERE task = ?1";
  sql += " ORDER BY id";
  auto statement = db.prepare(sql);
  if (task) statement.bind(1, *task);
  std::vector<Entry> entries;
  while (statement.step()) {
    entries.push_back({statement.column_int64(0), statement.column_text(1), statement.column_text(2),
                       statement.column_text(3), static_cast<int>(statement.column_int64(4))});
  }
  return entries;
}

void check_codes(store::Database& db, const std::vector<Entry>& entries, Findings& findings) {
  auto lookup = db.prepare(
      "SELECT c.billable FROM codes c JOIN releases r ON r.id = c.release_id WHERE r.system = ? AND r.year = "
      "? AND "
      "c.code = ?");
  std::map<std::tuple<std::string, int, std::string>, int> known;  // -1 missing, 0 header, 1 billable
  for (const auto& entry : entries) {
    auto key = std::make_tuple(entry.system, entry.year, entry.code);
    auto it = known.find(key);
    if (it == known.end()) {
      lookup.bind_all(entry.system, entry.year, entry.code);
      int state = lookup.step() ? static_cast<int>(lookup.column_int64(0)) : -1;
      lookup.reset();
      it = known.emplace(key, state).first;
    }
    if (it->second < 0) findings.flag("invalid_code", "error", entry.id);
    if (it->second == 0) findings.flag("not_billable", "error", entry.id);
  }
}

LabelDistribution label_distribution(const std::vector<Entry>& entries) {
  std::unordered_map<std::string, std::int64_t> per_code;
  for (const auto& entry : entries) ++per_code[entry.code];
  LabelDistribution labels;
  labels.entries = static_cast<std::int64_t>(entries.size());
  labels.codes = static_cast<std::int64_t>(per_code.size());
  if (per_code.empty()) return labels;
  std::vector<std::int64_t> counts;
  for (const auto& [code, count] : per_code) counts.push_back(count);
  std::sort(counts.begin(), counts.end());
  labels.min_per_code = counts.front();
  labels.max_per_code = counts.back();
  std::size_t middle = counts.size() / 2;
  labels.median_per_code =
      counts.size() % 2 ? static_cast<double>(counts[middle]) : (counts[middle - 1] + counts[middle]) / 2.0;
  labels.codes_with_one_entry = std::count(counts.begin(), counts.end(), 1);
  std::size_t top = std::max<std::size_t>(1, counts.size() / 10);
  std::int64_t top_entries = 0;
  for (std::size_t i = 0; i < top; ++i) top_entries += counts[counts.size() - 1 - i];
  labels.top_10_percent_share = static_cast<double>(top_entries) / static_cast<double>(labels.entries);
  return labels;
}

}  // namespace

bool QualityReport::has_errors() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const QualityFinding& finding) { return finding.severity == "error"; });
}

QualityReport check_quality(store::Database& db, const std::optional<std::string>& task, std::uint64_t seed) {
  std::vector<Entry> entries = load(db, task);
  Findings findings;
  // normalized text → first entry's code and split; bm25 terms → first raw normalized text
  std::unordered_map<std::string, std::pair<std::string, std::string>> by_text;
  std::unordered_map<std::string, std::string> by_terms;
  for (const auto& entry : entries) {
    std::string text = util::collapse_whitespace(entry.text);
    if (text.empty()) {
      findings.flag("empty_text", "error", entry.id);
      continue;
    }
    if (text.size() < k_short_text) findings.flag("short_text", "warning", entry.id);
    if (gives_code_away(entry)) findings.flag("code_in_text", "error", entry.id);
    std::string normalized = util::to_lower(text);
    std::string split(split_of_code(entry.code, seed));  // the split `medcode export` writes it to
    auto [it, first] = by_text.emplace(normalized, std::make_pair(entry.code, split));
    if (!first) {
      if (it->second.first != entry.code) {
        findings.flag("conflicting_labels", "warning", entry.id);
      } else {
        findings.flag("exact_duplicate", "warning", entry.id);
      }
      if (it->second.second != split) findings.flag("split_leakage", "error", entry.id);
      continue;
    }
    // Near duplicates: the same words once stop words, case, punctuation and order are set aside.
    std::vector<std::string> terms = eval::bm25_terms(text);
    std::sort(terms.begin(), terms.end());
    std::string signature;
    for (const auto& term : terms) signature += term + ' ';
    auto [near, new_signature] = by_terms.emplace(signature, normalized);
    if (!new_signature && !signature.empty()) findings.flag("near_duplicate", "warning", entry.id);
  }
  check_codes(db, entries, findings);
  QualityReport report;
  report.findings = findings.take();
  report.labels = label_distribution(entries);
  return report;
}

}  // namespace medcode::dataset
