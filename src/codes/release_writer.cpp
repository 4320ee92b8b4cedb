// Bulk writer for a code-set release with prepared statements; the caller owns the transaction.
#include "medcode/codes/release_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <unordered_set>

#include "medcode/util/text.h"

namespace medcode::codes {

namespace {

void append_terms(std::string& terms, std::string_view text) {
  if (!terms.empty()) terms.push_back(' ');
  terms.append(text);
}

// Each word once, in first-seen order: index paths repeat their main terms many times over.
std::string distinct_words(std::string_view text) {
  std::unordered_set<std::string> seen;
  std::string out;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && seen.insert(util::to_lower(word)).second) {
      if (!out.empty()) out.push_back(' ');
      out += word;
    }
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || (c & 0x80) || c == '.' || c == '\'') {
      word.push_back(c);
    } else {
      flush();
    }
  }
  flush();
  return out;
}

}  // namespace

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
      m_insert_group(db.prepare(
          "INSERT INTO code_groups (release_id, kind, key, parent_key, description, first_code, last_code, seq)"
          " VALUES (?, ?, ?, ?, ?, ?, ?, ?)")),
      m_insert_code(db.prepare(
          "INSERT INTO codes (release_id, code, kind, parent, chapter, section, description, short_description,"
          " billable, placeholder, seventh_char, seventh_meaning, attributes)"
          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")),
      m_insert_note(
          db.prepare("INSERT INTO code_notes (release_id, owner, kind, seq, text) VALUES (?, ?, ?, ?, ?)")),
      m_insert_seventh(db.prepare(
          "INSERT OR REPLACE INTO seventh_characters (release_id, owner, character, meaning) VALUES (?, ?, ?, ?)")),
      m_insert_term(db.prepare(
          "INSERT INTO index_terms (release_id, parent_id, level, title, path, code, code_incomplete,"
          " manifestation_code, see, see_also) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
  store::Statement existing = db.prepare("SELECT id FROM releases WHERE system = ? AND year = ?");
  existing.bind_all(system_name(system), year);
  if (existing.step()) delete_release(db, existing.column_int64(0));
  store::Statement insert = db.prepare(
      "INSERT INTO releases (system, year, imported_at, run_id, sources) VALUES (?, ?, ?, ?, ?)");
  insert.bind_all(system_name(system), year, util::utc_now_iso8601(), run_id, sources.dump());
  insert.run();
  m_release_id = db.last_insert_rowid();
}

void ReleaseWriter::add_group(const GroupRow& group) {
  m_insert_group.run_with(m_release_id, group.kind, group.key, group.parent_key, group.description,
                          group.first_code, group.last_code, ++m_group_seq);
}

std::int64_t ReleaseWriter::add_code(const CodeRow& code) {
  std::optional<std::string> attributes;
  if (code.attributes) attributes = code.attributes->dump();
  m_insert_code.run_with(m_release_id, code.code, code.kind, code.parent, code.chapter, code.section,
                         code.description, code.short_description, code.billable ? 1 : 0,
                         code.placeholder ? 1 : 0, code.seventh_char, code.seventh_meaning, attributes);
  std::int64_t id = m_db.last_insert_rowid();
  SearchEntry& entry = m_search[code.code];
  entry.id = id;
  entry.description = code.description;
  if (code.short_description) append_terms(entry.terms, *code.short_description);
  if (code.kind == "code") {
    ++m_n_codes;
    if (code.billable) ++m_n_billable;
  }
  return id;
}

void ReleaseWriter::add_note(std::string_view owner, std::string_view kind, int seq, std::string_view text) {
  m_insert_note.run_with(m_release_id, owner, kind, seq, text);
  if (kind == "inclusion_term") append_terms(m_search[std::string(owner)].terms, text);
}

void ReleaseWriter::add_seventh_character(std::string_view owner, std::string_view character,
                                          std::string_view meaning) {
  m_insert_seventh.run_with(m_release_id, owner, character, meaning);
}

std::int64_t ReleaseWriter::add_index_term(const IndexTermRow& term) {
  m_insert_term.run_with(m_release_id, term.parent_id, term.level, term.title, term.path, term.code,
                         term.code_incomplete ? 1 : 0, term.manifestation_code, term.see, term.see_also);
  if (term.code) append_terms(m_search[*term.code].terms, term.path);
  return m_db.last_insert_rowid();
}

void ReleaseWriter::finish() {
  auto started_at = std::chrono::steady_clock::now();
  store::Statement insert =
      m_db.prepare("INSERT INTO code_search (rowid, description, search_terms) VALUES (?, ?, ?)");
  store::Statement keep_terms = m_db.prepare("UPDATE codes SET search_terms = ? WHERE id = ?");
  // In rowid order: FTS5 appends to its segments far faster than it inserts at random.
  std::vector<const SearchEntry*> entries;
  entries.reserve(m_search.size());
  for (const auto& [code, entry] : m_search) {
    if (entry.id != 0) entries.push_back(&entry);  // terms naming no code of the release are dropped
  }
  std::sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) { return a->id < b->id; });
  for (const SearchEntry* entry : entries) {
    std::optional<std::string> terms;
    if (!entry->terms.empty()) {
      terms = distinct_words(entry->terms);
      keep_terms.run_with(terms, entry->id);
    }
    insert.run_with(entry->id, entry->description, terms);
  }
  m_search.clear();
  spdlog::debug("release writer: full-text index built in {:.3f} s",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count());
  store::Statement counts = m_db.prepare("UPDATE releases SET n_codes = ?, n_billable = ? WHERE id = ?");
  counts.bind_all(m_n_codes, m_n_billable, m_release_id).run();
}

}  // namespace medcode::codes
