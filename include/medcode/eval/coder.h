// Coders re-code a text blind: given only the text, they return a ranked list of codes. `bm25` ranks the
// billable codes of a release by BM25 over their tabular descriptions (and, as `bm25+terms`, their inclusion
// terms), never over the Alphabetic Index the cms-terms texts come from.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "medcode/codes/catalog.h"
#include "medcode/store/database.h"

namespace medcode::eval {

// Words of the text that justify a code: byte offsets [begin, end) into the coded text and the words there.
struct Evidence {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string text;
};

struct RankedCode {
  std::string code;                     // canonical
  double score = 0;                     // the coder's own score, higher is better
  std::vector<Evidence> evidence = {};  // empty for coders that do not point at words (bm25, majority, model)
};

class Coder {
 public:
  virtual ~Coder() = default;
  virtual std::string name() const = 0;
  // The best `k` codes for `text`, best first.
  virtual std::vector<RankedCode> code(std::string_view text, std::size_t k) const = 0;
  // The same for many texts; a coder that works faster in batches (a trained model) overrides it.
  virtual std::vector<std::vector<RankedCode>> code_many(const std::vector<std::string>& texts,
                                                         std::size_t k) const {
    std::vector<std::vector<RankedCode>> answers;
    answers.reserve(texts.size());
    for (const auto& text : texts) answers.push_back(code(text, k));
    return answers;
  }
};

// Lower-case words of letters and digits, without stop words, plurals folded ("fractures" → "fracture",
// "injuries" → "injury"): the terms both the index and the queries use.
std::vector<std::string> bm25_terms(std::string_view text);

// An in-memory BM25 index (k1 = 1.2, b = 0.75) over the billable codes of one release. Each code is one or
// more documents (its description, and with inclusion terms one document per term); a code scores as its
// best document. A document whose text is the query itself is skipped, so a text copied from the tabular
// cannot find its own code by identity. Safe to query from many threads at once (the server does).
class Bm25Coder : public Coder {
 public:
  static std::unique_ptr<Bm25Coder> build(store::Database& db, const codes::ReleaseInfo& release,
                                          bool with_inclusion_terms);
  std::string name() const override { return m_name; }
  std::vector<RankedCode> code(std::string_view text, std::size_t k) const override;
  std::size_t documents() const { return m_documents.size(); }

 private:
  struct Document {
    std::uint32_t code_index;
    std::uint32_t length;    // terms
    std::string normalized;  // for the self-match guard
  };
  struct Posting {
    std::uint32_t document;
    std::uint32_t frequency;
  };
  void add(std::uint32_t code_index, std::string_view text);

  std::string m_name;
  std::vector<std::string> m_codes;
  std::vector<Document> m_documents;
  std::unordered_map<std::string, std::vector<Posting>> m_postings;
  double m_average_length = 0;
};

}  // namespace medcode::eval
