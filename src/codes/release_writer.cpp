// Bulk writer for a code-set release with prepared statements; the caller owns the transaction.
#include "medcode/codes/release_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <vector>

#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

void append_terms(std::string& terms, std::string_view text) {
  if (!terms.empty()) terms.push_back(' ');
  terms.append(text);
}

bool is_word_character(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || (c & 0x80) || c == '.' || c == '\'';
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

// Each word once (compared without case), in first-seen order: index paths repeat their main terms many
// times over. Sorting the words, rather than a set of them, makes no allocation per word; the buffers are
// kept from call to call.
class DistinctWords {
 public:
  std::string operator()(std::string_view text) {
    m_lower.assign(text);
    for (char& c : m_lower) c = ascii_lower(c);
    m_words.clear();
    for (std::size_t i = 0; i < text.size();) {
      if (!is_word_character(text[i])) {
        ++i;
        continue;
      }
      std::size_t begin = i;
      while (i < text.size() && is_word_character(text[i])) ++i;
      m_words.push_back({std::string_view(m_lower).substr(begin, i - begin), begin, false});
    }
    m_by_key.clear();
    for (Word& word : m_words) m_by_key.push_back(&word);
    std::sort(m_by_key.begin(), m_by_key.end(), [](const Word* a, const Word* b) {
      return a->key != b->key ? a->key < b->key : a->at < b->at;
    });
    for (std::size_t i = 0; i < m_by_key.size(); ++i) {
      m_by_key[i]->first = i == 0 || m_by_key[i - 1]->key != m_by_key[i]->key;
    }
    std::string out;
    out.reserve(text.size());
    for (const Word& word : m_words) {
      if (!word.first) continue;
      if (!out.empty()) out.push_back(' ');
      out.append(text.substr(word.at, word.key.size()));
    }
    return out;
  }

 private:
  struct Word {
    std::string_view key;  // lower case, in m_lower
    std::size_t at = 0;    // where it starts in the text
    bool first = false;    // its first occurrence
  };
  std::string m_lower;
  std::vector<Word> m_words;
  std::vector<Word*> m_by_key;
};

void delete_release(store::Database& db, std::int64_t release_id) {
  // External-content FTS5: an entry is removed by giving back the values it was indexed with.
  store::Statement search = db.prepare(
      "INSERT INTO code_search (code_search, rowid, description, search_terms)"
      " SELECT 'delete', id, description, search_terms FROM codes WHERE release_id = ?");
  search.bind_all(release_id).run();
  for (const char* table : {"index_terms", "code_notes", "seventh_characters", "code_groups", "codes"}) {
    store::Statement remove = db.prepare(std::string("DELETE FROM ") + table + " WHERE release_id = ?");
    remove.bind_all(release_id).run();
  }
  store::Statement release = db.prepare("DELETE FROM releases WHERE id = ?");
  release.bind_all(release_id).run();
}

ReleaseWriter::ReleaseWriter(store::Database& db, System system, int year, std::optional<std::int64_t> run_id,
                             const nlohmann::json& sources)
    : m_db(db),
      m_distinct_words(std::make_unique<DistinctWords>()),
      m_insert_group(db.prepare("INSERT INTO code_groups (release_id, kind, key, parent_key, description, "
                                "first_code, last_code, seq)"
                                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)")),
      m_insert_code(
          db.prepare("INSERT INTO codes (release_id, code, kind, parent, chapter, section, description, "
                     "short_description,"
                     " billable, placeholder, seventh_char, seventh_meaning, attributes, search_terms)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")),
      m_insert_note(
          db.prepare("INSERT INTO code_notes (release_id, owner, kind, seq, text) VALUES (?, ?, ?, ?, ?)")),
      m_insert_seventh(db.prepare("INSERT OR REPLACE INTO seventh_characters (release_id, owner, character, "
                                  "meaning) VALUES (?, ?, ?, ?)")),
      m_insert_term(db.prepare(
          "INSERT INTO index_terms (release_id, parent_id, level, title, path, code, code_incomplete,"
          " manifestation_code, see, see_also) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
  store::Statement existing = db.prepare("SELECT id FROM releases WHERE system = ? AND year = ?");
  existing.bind_all(system_name(system), year);
  if (existing.step()) delete_release(db, existing.column_int64(0));
  store::Statement insert =
      db.prepare("INSERT INTO releases (system, year, imported_at, run_id, sources) VALUES (?, ?, ?, ?, ?)");
  insert.bind_all(system_name(system), year, util::utc_now_iso8601(), run_id, sources.dump());
  insert.run();
  m_release_id = db.last_insert_rowid();
}

ReleaseWriter::~ReleaseWriter() = default;

void ReleaseWriter::add_group(const GroupRow& group) {
  m_insert_group.run_with(m_release_id, group.kind, group.key, group.parent_key, group.description,
                          group.first_code, group.last_code, ++m_group_seq);
}

std::int64_t ReleaseWriter::add_code(const CodeRow& code) {
  std::optional<std::string> attributes;
  if (code.attributes) attributes = code.attributes->dump();
  // The code's terms so far; kept, since more may come after its row is written.
  std::optional<std::string> terms;
  auto found = m_search_terms.find(std::string_view(code.code));
  if (code.short_description) {
    if (found == m_search_terms.end()) found = m_search_terms.try_emplace(code.code).first;
    append_terms(found->second.text, *code.short_description);
  }
  if (found != m_search_terms.end()) {
    terms = (*m_distinct_words)(found->second.text);
    found->second.pending = false;
  }
  m_insert_code.run_with(m_release_id, code.code, code.kind, code.parent, code.chapter, code.section,
                         code.description, code.short_description, code.billable ? 1 : 0,
                         code.placeholder ? 1 : 0, code.seventh_char, code.seventh_meaning, attributes,
                         terms);
  std::int64_t id = m_db.last_insert_rowid();
  if (m_first_code_id == 0) m_first_code_id = id;
  m_last_code_id = id;
  if (code.kind == "code") {
    ++m_n_codes;
    if (code.billable) ++m_n_billable;
  }
  return id;
}

void ReleaseWriter::add_search_terms(std::string_view code, std::string_view text) {
  auto found = m_search_terms.find(code);
  if (found == m_search_terms.end()) found = m_search_terms.try_emplace(std::string(code)).first;
  append_terms(found->second.text, text);
  found->second.pending = true;
}

void ReleaseWriter::add_note(std::string_view owner, std::string_view kind, int seq, std::string_view text) {
  m_insert_note.run_with(m_release_id, owner, kind, seq, text);
  if (kind == "inclusion_term") add_search_terms(owner, text);
}

void ReleaseWriter::add_seventh_character(std::string_view owner, std::string_view character,
                                          std::string_view meaning) {
  m_insert_seventh.run_with(m_release_id, owner, character, meaning);
}

std::int64_t ReleaseWriter::add_index_term(const IndexTermRow& term) {
  m_insert_term.run_with(m_release_id, term.parent_id, term.level, term.title, term.path, term.code,
                         term.code_incomplete ? 1 : 0, term.manifestation_code, term.see, term.see_also);
  if (term.code) add_search_terms(*term.code, term.path);
  return m_db.last_insert_rowid();
}

void ReleaseWriter::finish() {
  auto started_at = std::chrono::steady_clock::now();
  // Terms that came after their code's row (a code they name that is not in the release matches no row).
  store::Statement update_terms =
      m_db.prepare("UPDATE codes SET search_terms = ? WHERE release_id = ? AND code = ?");
  for (const auto& [code, terms] : m_search_terms) {
    if (terms.pending) update_terms.run_with((*m_distinct_words)(terms.text), m_release_id, code);
  }
  m_search_terms.clear();
  // One statement: the rows go to FTS5 in rowid order, which appends to its segments far faster than
  // inserting at random would. "+release_id" keeps the planner on the rowid range (no index, no sort).
  if (m_first_code_id != 0) {
    store::Statement index = m_db.prepare(
        "INSERT INTO code_search (rowid, description, search_terms)"
        " SELECT id, description, search_terms FROM codes WHERE +release_id = ?1 AND id BETWEEN ?2 AND ?3"
        " ORDER BY id");
    index.bind_all(m_release_id, m_first_code_id, m_last_code_id).run();
  }
  spdlog::debug("release writer: full-text index built in {:.3f} s",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count());
  store::Statement counts = m_db.prepare("UPDATE releases SET n_codes = ?, n_billable = ? WHERE id = ?");
  counts.bind_all(m_n_codes, m_n_billable, m_release_id).run();
}

}  // namespace medcode::codes
