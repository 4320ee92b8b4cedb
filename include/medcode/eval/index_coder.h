// The document coder `index`: codes a whole clinical note as a human coder does. Mentions are found through
// the ICD-10-CM Alphabetic Index (main term, then subterms, in any order within a sentence), the tabular
// descriptions and the inclusion terms, compiled into one matcher over normalised words; "see" is followed,
// negated mentions are set aside (NegEx-style cues), history and family history are marked, and every code
// keeps the words that justify it. The compiled matcher is cached in the store, once per release.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/eval/coder.h"
#include "medcode/eval/evaluation.h"
#include "medcode/store/database.h"

namespace medcode::eval {

// Where a candidate's best mention came from.
enum class MatchKind : std::uint8_t {
  index_term = 0,     // a path of the Alphabetic Index with its own code
  index_see = 1,      // an Index term reached through "see" (or its default code)
  description = 2,    // the code's tabular description
  inclusion_term = 3  // one of the code's inclusion terms
};

// One code found in a note, with what a reranker needs to judge it.
struct Candidate {
  std::string code;         // canonical, in the release
  std::string description;  // the release's description of `code`
  double score = 0;         // the index coder's own score
  MatchKind kind = MatchKind::index_term;
  int depth = 0;                // Index level of the best matching term (0: a main term)
  int matched_words = 0;        // normalised words of the best mention
  double coverage = 0;          // share of the term's words found in the best mention, 0..1
  std::size_t n_mentions = 0;   // mentions of the code in the note, negated ones included
  std::size_t n_negated = 0;    // of them, under a negation cue
  std::size_t n_uncertain = 0;  // under an uncertainty cue ("possible", "suspected", "rule out")
  std::size_t n_history = 0;    // in a "history of" context
  std::size_t n_family = 0;     // in a family-history context
  std::size_t n_subsumed = 0;   // where a more specific term matched the same words (kept only when ranked)
  std::size_t first_sentence = 0;  // sentence of the first mention, 0-based
  std::size_t n_sentences = 0;     // sentences in the note
  std::string section;             // heading of the section of the best mention, lower case; "" when none
  std::vector<Evidence> evidence;  // the mentions, in note order (negated ones too)
  // How the code was found: its own words (`none`), or as a relative of a code found so, which it copies
  // the features and evidence of (IndexCoder::with_relatives).
  enum class Relation { none, parent, unspecified_child, unspecified_sibling };
  Relation relation = Relation::none;
};

struct IndexCoderOptions {
  double min_score = 0.6;  // assigned codes score at least this (chosen on CodiEsp train)
  std::size_t top_k = 0;   // most codes assigned (0: no limit)
  // Also rank codes whose every mention is negated or subsumed by a more specific term (score 0: never
  // assigned by this coder; a reranker weighs them).
  bool keep_negated = false;
  int threads = 0;  // predict_many: notes coded in parallel (0: one per available core)
};

class IndexCoder : public DecidingCoder {
 public:
  // Loads the release's compiled matcher from the store, compiling and caching it (in its own transaction)
  // when missing or built by another matcher version. Error(bad_input) when the release has no Alphabetic
  // Index.
  static std::unique_ptr<IndexCoder> open(store::Database& db, const codes::ReleaseInfo& release,
                                          const IndexCoderOptions& options = {});
  ~IndexCoder() override;

  std::string name() const override { return "index"; }
  // Every code found in `text`, best first, with its features and evidence; no threshold applied.
  std::vector<Candidate> candidates(std::string_view text) const;
  // `candidates` followed by their relatives in the release that no mention led to: each code's parent and
  // the unspecified subdivisions (last character 0 or 9) of it and of its parent. A note's words often name a
  // condition one level more or less precisely than its coder did; a reranker weighs these.
  std::vector<Candidate> with_relatives(std::vector<Candidate> candidates) const;
  std::vector<RankedCode> code(std::string_view text, std::size_t k) const override;
  Prediction predict(std::string_view text, std::size_t k) const override;
  std::vector<Prediction> predict_many(const std::vector<std::string>& texts, std::size_t k) const override;
  const codes::ReleaseInfo& release() const;
  const IndexCoderOptions& options() const;

  struct Matcher;  // the compiled Index (index_matcher.cpp)

 private:
  IndexCoder(std::unique_ptr<Matcher> matcher, codes::ReleaseInfo release, IndexCoderOptions options);
  std::unique_ptr<Matcher> m_matcher;
  codes::ReleaseInfo m_release;
  IndexCoderOptions m_options;
};

}  // namespace medcode::eval
