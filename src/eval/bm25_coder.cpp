// BM25 retrieval over tabular text, held in memory: postings per term, scores accumulated per document.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <unordered_set>

#include "medcode/eval/coder.h"
#include "medcode/util/error.h"

namespace medcode::eval {

namespace {

constexpr double k_k1 = 1.2;
constexpr double k_b = 0.75;

const std::unordered_set<std::string>& stop_words() {
  static const std::unordered_set<std::string> words = {
      "a",    "an",   "and", "are", "as",  "at",  "be",  "by",   "for",   "from", "has",   "have", "i",
      "in",   "is",   "it",  "its", "my",  "of",  "on",  "or",   "that",  "the",  "this",  "to",   "was",
      "were", "with", "me",  "he",  "she", "his", "her", "they", "their", "who",  "which", "had",  "been"};
  return words;
}

// Words that end in s without being plurals; folding them would only make the index harder to read.
const std::unordered_set<std::string>& singular_s_words() {
  static const std::unordered_set<std::string> words = {"diabetes", "herpes",  "rabies", "measles", "scabies",
                                                        "caries",   "feces",   "series", "species", "lens",
                                                        "mumps",    "tetanus", "uterus", "pubes",   "nates"};
  return words;
}

std::string fold_plural(std::string word) {
  if (singular_s_words().count(word)) return word;
  if (word.size() > 4 && word.ends_with("ies")) return word.substr(0, word.size() - 3) + "y";
  if (word.size() > 3 && word.ends_with("s") && !word.ends_with("ss") && !word.ends_with("us") &&
      !word.ends_with("is")) {
    return word.substr(0, word.size() - 1);
  }
  return word;
}

std::string normalized(std::string_view text) {
  std::string out;
  for (const auto& term : bm25_terms(text)) {
    if (!out.empty()) out += ' ';
    out += term;
  }
  return out;
}

}  // namespace

std::vector<std::string> bm25_terms(std::string_view text) {
  std::vector<std::string> terms;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && !stop_words().count(word)) terms.push_back(fold_plural(word));
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c)) {
      word += static_cast<char>(std::tolower(c));
    } else {
      flush();
    }
  }
  flush();
  return terms;
}

void Bm25Coder::add(std::uint32_t code_index, std::string_view text) {
  auto terms = bm25_terms(text);
  if (terms.empty()) return;
  auto document = static_cast<std::uint32_t>(m_documents.size());
  std::unordered_map<std::string, std::uint32_t> counts;
  for (const auto& term : terms) ++counts[term];
  for (const auto& [term, frequency] : counts) m_postings[term].push_back({document, frequency});
  m_documents.push_back({code_index, static_cast<std::uint32_t>(terms.size()), normalized(text)});
}

std::unique_ptr<Bm25Coder> Bm25Coder::build(store::Database& db, const codes::ReleaseInfo& release,
                                            bool with_inclusion_terms) {
  auto coder = std::unique_ptr<Bm25Coder>(new Bm25Coder());
  coder->m_name = with_inclusion_terms ? "bm25+terms" : "bm25";
  std::unordered_map<std::string, std::uint32_t> index_of;
  auto codes = db.prepare(
      "SELECT code, description FROM codes WHERE release_id = ? AND billable = 1 AND kind = 'code' ORDER BY "
      "code");
  codes.bind(1, release.id);
  while (codes.step()) {
    auto index = static_cast<std::uint32_t>(coder->m_codes.size());
    coder->m_codes.push_back(codes.column_text(0));
    index_of.emplace(coder->m_codes.back(), index);
    coder->add(index, codes.column_text(1));
  }
  if (with_inclusion_terms) {
    // Only a billable code's own inclusion terms: a header's terms would speak for every code below it.
    auto terms = db.prepare(
        "SELECT owner, text FROM code_notes WHERE release_id = ? AND kind = 'inclusion_term' ORDER BY owner, "
        "seq");
    terms.bind(1, release.id);
    while (terms.step()) {
      auto it = index_of.find(terms.column_text(0));
      if (it != index_of.end()) coder->add(it->second, terms.column_text(1));
    }
  }
  double total = 0;
  for (const auto& document : coder->m_documents) total += document.length;
  coder->m_average_length =
      coder->m_documents.empty() ? 1 : total / static_cast<double>(coder->m_documents.size());
  return coder;
}

std::vector<RankedCode> Bm25Coder::code(std::string_view text, std::size_t k) const {
  std::vector<std::string> terms = bm25_terms(text);
  std::set<std::string> unique(terms.begin(), terms.end());
  std::string query = normalized(text);
  const double n = static_cast<double>(m_documents.size());
  // Per-thread scratch, reused so a query costs its postings and not an allocation per document touched, and
  // so that threads may query one index at once. Every touched score is put back to zero below, so the
  // scratch is clean for the next query of any index of the same size.
  thread_local std::vector<double> scores;
  thread_local std::vector<std::uint32_t> touched;
  if (scores.size() != m_documents.size()) scores.assign(m_documents.size(), 0.0);
  touched.clear();
  for (const auto& term : unique) {
    auto it = m_postings.find(term);
    if (it == m_postings.end()) continue;
    const auto& postings = it->second;
    double df = static_cast<double>(postings.size());
    double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    for (const auto& posting : postings) {
      const Document& document = m_documents[posting.document];
      double tf = posting.frequency;
      double norm = k_k1 * (1 - k_b + k_b * document.length / m_average_length);
      if (scores[posting.document] == 0.0) touched.push_back(posting.document);
      scores[posting.document] += idf * tf * (k_k1 + 1) / (tf + norm);
    }
  }
  // A code scores as its best document; the query's own text is never a document it may match.
  std::unordered_map<std::uint32_t, double> best;
  for (std::uint32_t document : touched) {
    double score = scores[document];
    scores[document] = 0.0;
    if (m_documents[document].normalized == query) continue;
    double& code_score = best[m_documents[document].code_index];
    code_score = std::max(code_score, score);
  }
  std::vector<RankedCode> ranked;
  ranked.reserve(best.size());
  for (const auto& [code_index, score] : best) ranked.push_back({m_codes[code_index], score});
  std::size_t keep = std::min(k, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep), ranked.end(),
                    [](const RankedCode& a, const RankedCode& b) {
                      return a.score != b.score ? a.score > b.score : a.code < b.code;
                    });
  ranked.resize(keep);
  return ranked;
}

}  // namespace medcode::eval
