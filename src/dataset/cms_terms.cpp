// The offline "cms-terms" task: reads Alphabetic Index paths and tabular inclusion terms of a release as
// natural descriptions of the codes they point at, and writes them as dataset entries.
#include "medcode/dataset/cms_terms.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <optional>
#include <span>
#include <unordered_set>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::dataset {

namespace {

constexpr std::string_view k_task = "cms-terms";
constexpr std::string_view k_model = "cms";
constexpr std::size_t k_min_text_size = 3;
constexpr std::size_t k_progress_every = 1000;  // codes

// Words that tie a subterm to what it follows ("with", "due to ..."), so it reads on without a comma.
constexpr std::string_view k_leading_connectives[] = {
    "with",       "without",   "due",       "in",        "following", "of",           "from",
    "by",         "during",    "after",     "on",        "at",        "to",           "for",
    "as",         "and",       "or",        "not",       "causing",   "complicating", "complicated",
    "associated", "affecting", "involving", "secondary", "resulting", "related",      "except",
    "including",  "when",      "while",     "into"};

// Words that leave a term open ("due to", "adenocarcinoma in"), so the next subterm follows without a comma.
constexpr std::string_view k_trailing_connectives[] = {"with",   "without", "to",        "of", "by",  "in",
                                                       "from",   "for",     "at",        "on", "and", "or",
                                                       "during", "after",   "following", "as", "than"};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_one_of(std::string_view word, std::span<const std::string_view> words) {
  return std::any_of(words.begin(), words.end(), [&](std::string_view w) { return iequals(word, w); });
}

std::string_view first_word(std::string_view text) { return text.substr(0, text.find(' ')); }

std::string_view last_word(std::string_view text) {
  std::size_t space = text.rfind(' ');
  return space == std::string_view::npos ? text : text.substr(space + 1);
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }

// Drops every (...) and [...] group, nested ones included: nonessential modifiers, synonyms, abbreviations
// and "(see also ...)" cross-references. A group glued to the word after it ("(cardio)-pulmonary") is part of
// that word, so its words stay; a stray closing bracket goes.
std::string strip_bracketed(std::string_view text) {
  std::string out;
  int depth = 0;
  std::size_t group_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '(' || c == '[') {
      if (depth++ == 0) group_start = i + 1;
    } else if (c == ')' || c == ']') {
      if (depth > 0 && --depth == 0 && i + 1 < text.size() && is_word_char(text[i + 1])) {
        out += strip_bracketed(text.substr(group_start, i - group_start));
      }
    } else if (depth == 0) {
      out.push_back(c);
    }
  }
  return out;
}

// Cuts a "- see ..." cross-reference left in a title.
std::string_view strip_see_remnant(std::string_view text) {
  const std::string lower = util::to_lower(text);
  for (std::string_view marker : {" - see", " -see", "- see "}) {
    std::size_t at = lower.find(marker);
    if (at != std::string::npos) return text.substr(0, at);
  }
  return text;
}

// Drops "NEC" and "NOS" (index shorthand, not words of a description); "specified NEC" is the tabular's
// "other specified".
std::string drop_shorthand(std::string_view text) {
  std::string out;
  bool dropped_nec = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = std::min(text.find(' ', start), text.size());
    std::string_view word = text.substr(start, end - start);
    std::string_view core = word.substr(0, word.find_last_not_of(",;") + 1);
    if (word.starts_with("NEC-") && !out.empty()) {
      dropped_nec = true;
      out += word.substr(3);  // "psychoactive NEC-induced" → "psychoactive-induced"
    } else if (core == "NEC" || core == "NOS") {
      dropped_nec = dropped_nec || core == "NEC";
      out += word.substr(core.size());  // keep a comma that followed it
    } else if (!word.empty()) {
      if (!out.empty()) out.push_back(' ');
      out += word;
    }
    start = end + 1;
  }
  if (dropped_nec && iequals(first_word(out), "specified")) out.insert(0, "other ");
  return out;
}

// Tidies what removals leave behind: runs of spaces, " ," and dangling commas at the ends.
std::string tidy(std::string_view text) {
  std::string collapsed = util::collapse_whitespace(text);
  std::string out;
  for (char c : collapsed) {
    if ((c == ',' || c == ';') && !out.empty() && out.back() == ' ') out.pop_back();
    out.push_back(c);
  }
  std::size_t first = out.find_first_not_of(",; ");
  if (first == std::string::npos) return {};
  std::size_t last = out.find_last_not_of(",; ");
  return out.substr(first, last - first + 1);
}

std::size_t common_prefix_size(std::string_view a, std::string_view b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() &&
         std::tolower(static_cast<unsigned char>(a[n])) == std::tolower(static_cast<unsigned char>(b[n]))) {
    ++n;
  }
  return n;
}

// "perineal, perineum" and "Infection, infected, infective" list forms of one word: a single-word part that
// shares its stem (at least 3 letters and 60% of the shorter word) with the word before the first comma is
// dropped. Parts that add meaning ("Fracture, traumatic", "old, retained") stay.
std::string drop_variant_forms(std::string_view text) {
  std::size_t comma = text.find(", ");
  if (comma == std::string_view::npos) return std::string(text);
  std::string_view head = text.substr(0, comma);
  std::string_view stem = last_word(head);
  std::string out(head);
  std::size_t start = comma + 2;
  while (start <= text.size()) {
    std::size_t end = std::min(text.find(", ", start), text.size());
    std::string_view part = text.substr(start, end - start);
    std::size_t shared = common_prefix_size(stem, part);
    bool variant = part.find(' ') == std::string_view::npos && shared >= 3 &&
                   shared * 5 >= std::min(stem.size(), part.size()) * 3;
    if (!variant && !part.empty()) out += ", " + std::string(part);
    start = end + 2;
  }
  return out;
}

std::string term_text(std::string_view title) {
  return drop_variant_forms(tidy(drop_shorthand(tidy(strip_bracketed(strip_see_remnant(title))))));
}

std::string dedupe_key(std::string_view text) { return util::to_lower(util::collapse_whitespace(text)); }

struct CodeFacts {
  std::string description;
  std::optional<std::string> parent;
  std::optional<std::string> seventh_char;
  std::optional<std::string> seventh_meaning;
};

// Reads the terms of one code at a time with statements prepared once, so a whole release takes seconds.
class TermReader {
 public:
  TermReader(store::Database& db, const codes::ReleaseInfo& release)
      : m_release(release),
        m_code(db.prepare(
            "SELECT description, parent, seventh_char, seventh_meaning FROM codes WHERE release_id = ? AND "
            "code = ?")),
        m_index_terms(
            db.prepare("SELECT path FROM index_terms WHERE release_id = ? AND code = ? ORDER BY id")),
        m_inclusion_terms(db.prepare(
            "SELECT text FROM code_notes WHERE release_id = ? AND owner = ? AND kind = 'inclusion_term' "
            "ORDER BY seq")) {}

  // The pairs of `code`, as cms_term_pairs documents them.
  std::vector<TermPair> pairs(const std::string& code) {
    CodeFacts facts = find(code);
    // A 7th-character code is described by the code it extends (S06.0X1A by S06.0X1; O40.1XX1 by O40.1).
    bool extends = facts.seventh_char && facts.parent;
    const std::vector<TermPair>& base = base_pairs(extends ? *facts.parent : code);
    std::string suffix = extends && facts.seventh_meaning ? ", " + *facts.seventh_meaning : "";
    std::string own_key = dedupe_key(facts.description);
    std::unordered_set<std::string> seen;
    std::vector<TermPair> out;
    for (const TermPair& pair : base) {
      std::string text = pair.text + suffix;
      std::string key = dedupe_key(text);
      if (key == own_key || !seen.insert(std::move(key)).second) continue;
      out.push_back({code, pair.kind, std::move(text), pair.path});
    }
    return out;
  }

 private:
  CodeFacts find(const std::string& code) {
    m_code.reset();
    m_code.bind_all(m_release.id, code);
    if (!m_code.step()) {
      fail(ExitCode::bad_input, "{} is not a code of {}", code, codes::release_label(m_release));
    }
    return {m_code.column_text(0), m_code.column_optional_text(1), m_code.column_optional_text(2),
            m_code.column_optional_text(3)};
  }

  // The terms that point at `code` itself, index terms first, before dedupe. The 7th-character codes of one
  // parent come one after another in code order, so the last answer is kept.
  const std::vector<TermPair>& base_pairs(const std::string& code) {
    if (m_cached_code == code) return m_cached;
    m_cached_code = code;
    m_cached.clear();
    m_index_terms.reset();
    m_index_terms.bind_all(m_release.id, code);
    while (m_index_terms.step()) {
      std::string path = m_index_terms.column_text(0);
      std::string text = index_path_to_text(path);
      if (text.size() >= k_min_text_size) m_cached.push_back({code, "index_term", std::move(text), path});
    }
    m_inclusion_terms.reset();
    m_inclusion_terms.bind_all(m_release.id, code);
    while (m_inclusion_terms.step()) {
      std::string text = util::collapse_whitespace(m_inclusion_terms.column_text(0));
      if (text.size() >= k_min_text_size) m_cached.push_back({code, "inclusion_term", std::move(text), ""});
    }
    return m_cached;
  }

  codes::ReleaseInfo m_release;
  store::Statement m_code;
  store::Statement m_index_terms;
  store::Statement m_inclusion_terms;
  std::string m_cached_code;
  std::vector<TermPair> m_cached;
};

}  // namespace

std::string index_path_to_text(std::string_view path) {
  std::string out;
  bool open = false;  // the text so far ends in a connective: the next subterm follows with a space
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = std::min(path.find(" > ", start), path.size());
    std::string text = term_text(path.substr(start, end - start));
    start = end + 3;
    if (text.empty()) continue;
    if (out.empty()) {
      out = text;
    } else {
      out += open || is_one_of(first_word(text), k_leading_connectives) ? " " : ", ";
      out += text;
    }
    open = is_one_of(last_word(text), k_trailing_connectives);
  }
  return out;
}

std::vector<TermPair> cms_term_pairs(store::Database& db, const codes::ReleaseInfo& release,
                                     const std::vector<std::string>& codes) {
  TermReader reader(db, release);
  std::vector<TermPair> out;
  for (const std::string& code : codes) {
    std::vector<TermPair> pairs = reader.pairs(code);
    std::move(pairs.begin(), pairs.end(), std::back_inserter(out));
  }
  return out;
}

CmsTermsSummary write_cms_terms(store::Database& db, const codes::ReleaseInfo& release,
                                const std::vector<std::string>& codes, std::int64_t job_id,
                                std::int64_t run_id, const util::ProgressCallback& progress) {
  TermReader reader(db, release);
  store::Transaction transaction(db);
  auto insert = db.prepare(
      "INSERT OR IGNORE INTO dataset_entries (job_id, task, kind, text, source_system, source_year, "
      "source_code, data, model, request_id, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, "
      "?)");
  const std::string_view system = codes::system_name(release.system);
  const std::string created_at = util::utc_now_iso8601();
  CmsTermsSummary summary;
  summary.codes = static_cast<std::int64_t>(codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i) {
    std::vector<TermPair> pairs = reader.pairs(codes[i]);
    if (!pairs.empty()) ++summary.codes_with_terms;
    for (const TermPair& pair : pairs) {
      std::optional<std::string> data;
      if (!pair.path.empty()) data = nlohmann::json{{"path", pair.path}}.dump();
      insert.run_with(job_id, k_task, pair.kind, pair.text, system, release.year, pair.code, data, k_model,
                      run_id, created_at);
      (db.changes() > 0 ? summary.entries_written : summary.entries_existing) += 1;
      (pair.kind == "index_term" ? summary.index_terms : summary.inclusion_terms) += 1;
    }
    if ((i + 1) % k_progress_every == 0 || i + 1 == codes.size()) {
      util::report(progress, k_task, i + 1, codes.size());
    }
  }
  transaction.commit();
  return summary;
}

}  // namespace medcode::dataset
