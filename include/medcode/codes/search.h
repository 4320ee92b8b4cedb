// Ranked full-text search over a release's descriptions, inclusion terms and Alphabetic Index terms
// (the code_search FTS5 table), from free text that users type.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/store/database.h"

namespace medcode::codes {

// FTS5 MATCH expressions built from free text. Every word is a quoted string, so that punctuation ("type-2",
// "E11.9", a stray quote, AND/OR/NEAR, parentheses) is never read as query syntax.
struct FtsQuery {
  std::vector<std::string> words;  // the words kept, as typed
  std::string all_words;           // "type" AND "2" AND "diabetes"*: every word, the last as a prefix
  std::string all_words_widened;   // "type" AND "2" AND ("diabetes"* OR "diabete"*): for a half-typed last
                                   // word that stemming spoils ("hypogly"); empty when it cannot be widened
  std::string any_word;            // "type" OR "2" OR "diabetes"*
  std::string any_word_widened;    // "type" OR "2" OR ("diabetes"* OR "diabete"*), or empty
};

// Error(usage) when the text holds no letter or digit to search for.
FtsQuery build_fts_query(std::string_view text);

struct SearchOptions {
  int limit = 10;
  bool billable_only = false;
};

struct SearchHit {
  int rank = 0;  // 1 = best
  std::string code;
  std::string kind;  // code | modifier
  bool billable = false;
  std::string description;
  double score = 0;     // bm25 (lower is better); 0 for an exact code match
  std::string matched;  // code | all_words | any_word
};

struct SearchResult {
  std::vector<SearchHit> hits;
  bool any_word_fallback = false;  // no code matched every word, so codes matching any word are listed
};

// Ranks codes of `release` by bm25 with descriptions weighted above the terms that lead to them. A text that
// is itself a code of the release (in any common form) puts that code first. Tries every word, then every
// word with the last one widened, then any word (widened), each only when the previous found nothing.
SearchResult search_codes(store::Database& db, const ReleaseInfo& release, std::string_view text,
                          const SearchOptions& options);

nlohmann::json to_json(const SearchHit& hit);

}  // namespace medcode::codes
