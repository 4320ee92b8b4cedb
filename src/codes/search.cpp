// Free text → safe FTS5 query → bm25-ranked codes of one release, with an any-word fallback.
// FTS5 query syntax: https://www.sqlite.org/fts5.html#full_text_query_syntax
#include "medcode/codes/search.h"

#include <fmt/format.h>

#include <cctype>
#include <unordered_set>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

// bm25 column weights (description, terms): a word in the description says more about a code than the same
// word somewhere in the index paths that lead to it.
constexpr double k_description_weight = 4.0;
constexpr double k_terms_weight = 1.0;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// A word the tokenizer can index: it has an ASCII letter or digit, or any non-ASCII character.
bool is_searchable(std::string_view word) {
  for (char c : word) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 || (byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z') ||
        (byte >= 'A' && byte <= 'Z')) {
      return true;
    }
  }
  return false;
}

// An FTS5 string: inside double quotes only a doubled quote means anything.
std::string fts_string(std::string_view word) {
  std::string out = "\"";
  for (char c : word) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (!is_space(c)) {
      word.push_back(c);
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

// The last word as a prefix: the user may still be typing it. Porter stems a prefix as it is typed, so
// "hypogly" becomes "hypogli", which begins no indexed word; `widened` adds the prefix one letter shorter,
// which still reaches "hypoglycemia". It is only tried when the plain prefix finds nothing, since it also
// reaches words that were not meant ("diabete" → "diabetic").
std::string last_word_term(const std::string& word, bool widened) {
  std::string term = fts_string(word) + "*";
  if (!widened) return term;
  std::string shorter = word.substr(0, word.empty() ? 0 : word.size() - 1);
  if (word.size() < 4 || !std::isalpha(static_cast<unsigned char>(word.back())) || !is_searchable(shorter))
    return {};
  return "(" + term + " OR " + fts_string(shorter) + "*)";
}

// FTS5 needs explicit operators around a parenthesised group, so AND is written out. Empty when `widened`
// and the last word cannot be widened.
std::string join_terms(const std::vector<std::string>& words, std::string_view separator, bool widened) {
  std::string last = last_word_term(words.back(), widened);
  if (last.empty()) return {};
  std::string out;
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    out += fts_string(words[i]);
    out += separator;
  }
  return out + last;
}

SearchHit read_hit(const store::Statement& statement, std::string matched) {
  SearchHit hit;
  hit.code = statement.column_text(0);
  hit.kind = statement.column_text(1);
  hit.billable = statement.column_int64(2) != 0;
  hit.description = statement.column_text(3);
  hit.score = statement.column_double(4);
  hit.matched = std::move(matched);
  return hit;
}

// The code itself when the whole text is a code of the release ("E11.9", "e119").
void add_exact_code(store::Database& db, const ReleaseInfo& release, std::string_view text,
                    const SearchOptions& options, SearchResult& result) {
  std::optional<std::string> canonical = canonical_code(release.system, text);
  if (!canonical) return;
  store::Statement statement = db.prepare(
      "SELECT code, kind, billable, description, 0.0 FROM codes WHERE release_id = ? AND code = ?"
      " AND (? = 0 OR billable = 1)");
  statement.bind_all(release.id, *canonical, options.billable_only ? 1 : 0);
  if (statement.step()) result.hits.push_back(read_hit(statement, "code"));
}

void add_fts_hits(store::Database& db, const ReleaseInfo& release, const std::string& match,
                  std::string_view matched, const SearchOptions& options, SearchResult& result) {
  store::Statement statement = db.prepare(
      fmt::format("SELECT c.code, c.kind, c.billable, c.description, bm25(code_search, {}, {}) AS score"
                  " FROM code_search JOIN codes c ON c.id = code_search.rowid"
                  " WHERE code_search MATCH ? AND c.release_id = ? AND (? = 0 OR c.billable = 1)"
                  " ORDER BY score, c.code LIMIT ?",
                  k_description_weight, k_terms_weight));
  // One extra row per code already listed, so that skipping it still fills the limit.
  statement.bind_all(
      match, release.id, options.billable_only ? 1 : 0,
      static_cast<std::int64_t>(options.limit) + static_cast<std::int64_t>(result.hits.size()));
  std::unordered_set<std::string> listed;
  for (const auto& hit : result.hits) listed.insert(hit.code);
  while (statement.step() && result.hits.size() < static_cast<std::size_t>(options.limit)) {
    SearchHit hit = read_hit(statement, std::string(matched));
    if (listed.count(hit.code)) continue;
    result.hits.push_back(std::move(hit));
  }
}

}  // namespace

FtsQuery build_fts_query(std::string_view text) {
  FtsQuery query;
  for (auto& word : split_words(text)) {
    if (is_searchable(word)) query.words.push_back(std::move(word));
  }
  if (query.words.empty()) {
    fail(ExitCode::usage, "search text '{}' has no letter or digit to search for", util::trim(text));
  }
  query.all_words = join_terms(query.words, " AND ", false);
  query.all_words_widened = join_terms(query.words, " AND ", true);
  query.any_word = join_terms(query.words, " OR ", false);
  query.any_word_widened = join_terms(query.words, " OR ", true);
  return query;
}

SearchResult search_codes(store::Database& db, const ReleaseInfo& release, std::string_view text,
                          const SearchOptions& options) {
  if (options.limit < 1) fail(ExitCode::usage, "search limit must be at least 1 (got {})", options.limit);
  FtsQuery query = build_fts_query(text);
  SearchResult result;
  add_exact_code(db, release, text, options, result);
  // Each step only when the ones before found nothing: every word, every word with the last widened,
  // then any word.
  add_fts_hits(db, release, query.all_words, "all_words", options, result);
  if (result.hits.empty() && !query.all_words_widened.empty()) {
    add_fts_hits(db, release, query.all_words_widened, "all_words", options, result);
  }
  if (result.hits.empty() && query.words.size() > 1) {
    result.any_word_fallback = true;
    const std::string& any_word = query.any_word_widened.empty() ? query.any_word : query.any_word_widened;
    add_fts_hits(db, release, any_word, "any_word", options, result);
  }
  for (std::size_t i = 0; i < result.hits.size(); ++i) result.hits[i].rank = static_cast<int>(i + 1);
  return result;
}

nlohmann::json to_json(const SearchHit& hit) {
  return {{"rank", hit.rank},
          {"code", hit.code},
          {"kind", hit.kind},
          {"billable", hit.billable},
          {"description", hit.description},
          {"score", hit.score},
          {"matched", hit.matched}};
}

}  // namespace medcode::codes
