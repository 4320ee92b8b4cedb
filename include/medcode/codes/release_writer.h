// Writes one code-set release into the store: the release row, codes, notes, index terms and the
// full-text index. Every importer goes through it, inside the caller's transaction.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "medcode/codes/code_group.h"
#include "medcode/codes/code_system.h"
#include "medcode/store/database.h"

namespace medcode::codes {

struct CodeRow {
  std::string code;  // canonical
  std::string kind = "code";
  std::optional<std::string> parent;
  std::optional<std::string> chapter;
  std::optional<std::string> section;
  std::string description;
  std::optional<std::string> short_description;
  bool billable = false;
  bool placeholder = false;
  std::optional<std::string> seventh_char;
  std::optional<std::string> seventh_meaning;
  std::optional<nlohmann::json> attributes;
};

struct IndexTermRow {
  std::optional<std::int64_t> parent_id;
  int level = 0;
  std::string title;
  std::string path;
  std::optional<std::string> code;  // canonical, without a trailing '-'
  bool code_incomplete = false;
  std::optional<std::string> manifestation_code;
  std::optional<std::string> see;
  std::optional<std::string> see_also;
};

class DistinctWords;

class ReleaseWriter {
 public:
  // Replaces any existing release of (system, year): call inside an open store::Transaction.
  ReleaseWriter(store::Database& db, System system, int year, std::optional<std::int64_t> run_id,
                const nlohmann::json& sources);
  ~ReleaseWriter();

  std::int64_t release_id() const { return m_release_id; }

  void add_group(const GroupRow& group);
  std::int64_t add_code(const CodeRow& code);
  void add_note(std::string_view owner, std::string_view kind, int seq, std::string_view text);
  void add_seventh_character(std::string_view owner, std::string_view character, std::string_view meaning);
  std::int64_t add_index_term(const IndexTermRow& term);

  // Fills the full-text index and the release's counts. A code's searchable terms are its short
  // description, inclusion terms and the index paths that lead to it, each word once. Rows may come in any
  // order, but a code added after its notes and index terms is written once, with its terms; one added
  // before them is updated here.
  void finish();

  std::int64_t n_codes() const { return m_n_codes; }
  std::int64_t n_billable() const { return m_n_billable; }

 private:
  store::Database& m_db;
  std::unique_ptr<DistinctWords> m_distinct_words;
  std::int64_t m_release_id = 0;
  std::int64_t m_group_seq = 0;
  std::int64_t m_n_codes = 0;
  std::int64_t m_n_billable = 0;
  store::Statement m_insert_group;
  store::Statement m_insert_code;
  store::Statement m_insert_note;
  store::Statement m_insert_seventh;
  store::Statement m_insert_term;
  void add_search_terms(std::string_view code, std::string_view text);

  // Looked up by std::string_view without making a std::string of it.
  struct CodeHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view code) const { return std::hash<std::string_view>{}(code); }
  };
  struct SearchTerms {
    std::string text;      // words, space separated, repeats allowed (removed when written)
    bool pending = false;  // text was added since the code's row was written (or the row is not written yet)
  };
  std::unordered_map<std::string, SearchTerms, CodeHash, std::equal_to<>> m_search_terms;  // by code
  std::int64_t m_first_code_id = 0;  // the rowids of this release's codes, for the full-text index
  std::int64_t m_last_code_id = 0;
};

// Deletes a release and everything that belongs to it (inside the caller's transaction).
void delete_release(store::Database& db, std::int64_t release_id);

}  // namespace medcode::codes
