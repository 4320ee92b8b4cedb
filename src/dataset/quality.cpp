// Data-quality checks over dataset items (quality.h), and `check_quality` running them over the store's
// entries: each check counts the entries it flags and keeps a few examples.
#include "medcode/dataset/quality.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "medcode/dataset/export.h"
#include "medcode/dataset/score.h"
#include "medcode/eval/coder.h"
#include "medcode/util/text.h"

namespace medcode::dataset {

namespace {

constexpr std::size_t k_short_text = 10;  // characters
constexpr std::size_t k_examples = 5;

class Findings {
 public:
  void flag(const QualityFlag& flag) {
    QualityFinding& finding = m_findings[std::string(flag.check)];
    finding.check = flag.check;
    finding.severity = flag.severity;
    ++finding.count;
    if (finding.examples.size() < k_examples) finding.examples.push_back(flag.id);
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
bool gives_code_away(const std::string& upper_text, const std::string& code) {
  std::string undotted = code;
  undotted.erase(std::remove(undotted.begin(), undotted.end(), '.'), undotted.end());
  return contains_word(upper_text, code) || (undotted.size() >= 4 && contains_word(upper_text, undotted));
}

std::string join_codes(std::span<const std::string> codes) {
  std::vector<std::string> sorted(codes.begin(), codes.end());
  std::sort(sorted.begin(), sorted.end());
  return fmt::format("{}", fmt::join(sorted, ", "));
}

// Two distinct texts share a 64-bit hash about once in 10^19 pairs: a duplicate detector that keeps no text.
std::uint64_t hash_of(std::string_view text) { return std::hash<std::string_view>{}(text); }

}  // namespace

bool QualityReport::has_errors() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const QualityFinding& finding) { return finding.severity == "error"; });
}

nlohmann::json to_json(const LabelDistribution& labels) {
  return {{"codes", labels.codes},
          {"entries", labels.entries},
          {"min_per_code", labels.min_per_code},
          {"median_per_code", labels.median_per_code},
          {"max_per_code", labels.max_per_code},
          {"codes_with_one_entry", labels.codes_with_one_entry},
          {"top_10_percent_share", labels.top_10_percent_share}};
}

// ---- QualityChecker ------------------------------------------------------------------------------------

QualityChecker::QualityChecker(std::string id_name, QualitySink sink)
    : m_id_name(std::move(id_name)), m_sink(std::move(sink)) {}

void QualityChecker::flag(std::string_view check, std::string_view severity, std::int64_t id,
                          std::string message) {
  m_sink({check, severity, id, std::move(message)});
}

void QualityChecker::add(const QualityItem& item) {
  ++m_items;
  for (const std::string& code : item.codes) ++m_per_code[code];
  std::string text = util::collapse_whitespace(item.text);
  if (text.empty()) {
    flag("empty_text", "error", item.id, "the text is empty");
    return;
  }
  if (text.size() < k_short_text) {
    flag("short_text", "warning", item.id,
         fmt::format("the text is {} characters long, under {}", text.size(), k_short_text));
  }
  std::string upper = util::to_upper(text);
  for (const std::string& code : item.codes) {
    if (gives_code_away(upper, code)) {
      flag("code_in_text", "error", item.id, fmt::format("the text gives its code {} away", code));
      break;
    }
  }
  if (check_exact_duplicate(item, text)) check_near_duplicate(item, text);
}

bool QualityChecker::check_exact_duplicate(const QualityItem& item, const std::string& text) {
  std::string codes = join_codes(item.codes);
  auto [first, is_new] = m_by_text.try_emplace(
      hash_of(util::to_lower(text)),
      FirstSeen{item.id, codes, item.split ? std::optional<std::string>(*item.split) : std::nullopt});
  if (is_new) return true;
  const FirstSeen& seen = first->second;
  if (seen.codes != codes) {
    flag("conflicting_labels", "warning", item.id,
         fmt::format("the same text as {} {}, coded {} there and {} here", m_id_name, seen.id, seen.codes,
                     codes));
  } else {
    flag("exact_duplicate", "warning", item.id, fmt::format("the same text as {} {}", m_id_name, seen.id));
  }
  if (seen.split && item.split && *seen.split != *item.split) {
    flag("split_leakage", "error", item.id,
         fmt::format("the same text as {} {} in split {}, here in {}", m_id_name, seen.id, *seen.split,
                     *item.split));
  }
  return false;
}

// Near duplicates: the same words once stop words, case, punctuation and order are set aside.
void QualityChecker::check_near_duplicate(const QualityItem& item, const std::string& text) {
  std::vector<std::string> terms = eval::bm25_terms(text);
  std::sort(terms.begin(), terms.end());
  std::string signature;
  for (const auto& term : terms) signature += term + ' ';
  auto [first, is_new] = m_by_terms.try_emplace(hash_of(signature), item.id);
  if (!is_new && !signature.empty()) {
    flag("near_duplicate", "warning", item.id,
         fmt::format("the same words as {} {} once stop words, case, punctuation and order are set aside",
                     m_id_name, first->second));
  }
}

LabelDistribution QualityChecker::labels() const {
  LabelDistribution labels;
  labels.entries = m_items;
  labels.codes = static_cast<std::int64_t>(m_per_code.size());
  if (m_per_code.empty()) return labels;
  std::vector<std::int64_t> counts;
  std::int64_t labelled = 0;  // the entries of each code, summed: `entries` when each has one code
  for (const auto& [code, count] : m_per_code) {
    counts.push_back(count);
    labelled += count;
  }
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
  labels.top_10_percent_share = static_cast<double>(top_entries) / static_cast<double>(labelled);
  return labels;
}

// ---- CodeLookup ----------------------------------------------------------------------------------------

CodeLookup::CodeLookup(store::Database& db)
    : m_db(db), m_find(db.prepare("SELECT billable FROM codes WHERE release_id = ? AND code = ?")) {}

const std::optional<codes::ReleaseInfo>& CodeLookup::release(codes::System system, std::optional<int> year) {
  auto key = std::make_pair(system, year);
  auto found = m_releases.find(key);
  if (found == m_releases.end())
    found = m_releases.emplace(key, codes::try_find_release(m_db, system, year)).first;
  return found->second;
}

CodeStatus CodeLookup::status(const codes::ReleaseInfo& release, const std::string& code) {
  auto key = std::make_pair(release.id, code);
  auto found = m_codes.find(key);
  if (found != m_codes.end()) return found->second;
  m_find.bind_all(release.id, code);
  CodeStatus status = CodeStatus::missing;
  if (m_find.step()) status = m_find.column_int64(0) ? CodeStatus::billable : CodeStatus::not_billable;
  m_find.reset();
  return m_codes.emplace(key, status).first->second;
}

// ---- check_quality over the store ----------------------------------------------------------------------

QualityReport check_quality(store::Database& db, const std::optional<std::string>& task, std::uint64_t seed) {
  std::string sql = "SELECT id, text, source_code, source_system, source_year FROM dataset_entries";
  if (task) sql += " WHERE task = ?1";
  sql += " ORDER BY id";
  auto select = db.prepare(sql);
  if (task) select.bind(1, *task);
  Findings findings;
  QualityChecker checker("entry", [&findings](const QualityFlag& flag) { findings.flag(flag); });
  CodeLookup lookup(db);
  while (select.step()) {
    std::int64_t id = select.column_int64(0);
    std::string text = select.column_text(1);
    std::vector<std::string> code = {select.column_text(2)};
    std::string_view split = split_of_code(code.front(), seed);  // the split `medcode export` writes it to
    checker.add({id, text, code, split});
    // An entry of a system or release the store lacks names no code that exists.
    std::optional<codes::System> system = codes::parse_system(select.column_text(3));
    const std::optional<codes::ReleaseInfo>* release =
        system ? &lookup.release(*system, static_cast<int>(select.column_int64(4))) : nullptr;
    CodeStatus status = release && *release ? lookup.status(**release, code.front()) : CodeStatus::missing;
    if (status == CodeStatus::missing) findings.flag({"invalid_code", "error", id, {}});
    if (status == CodeStatus::not_billable) findings.flag({"not_billable", "error", id, {}});
  }
  QualityReport report;
  report.findings = findings.take();
  report.labels = checker.labels();
  return report;
}

}  // namespace medcode::dataset
