// Bulk writer for a code-set release with prepared statements; the caller owns the transaction.
#include "medcode/codes/release_writer.h"

#include "medcode/util/text.h"

namespace medcode::codes {

void delete_release(store::Database& db, std::int64_t release_id) {
  store::Statement search =
      db.prepare("DELETE FROM code_search WHERE rowid IN (SELECT id FROM codes WHERE release_id = ?)");
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
  m_insert_group.bind_all(m_release_id, group.kind, group.key, group.parent_key, group.description,
                          group.first_code, group.last_code, ++m_group_seq);
  m_insert_group.run();
}

std::int64_t ReleaseWriter::add_code(const CodeRow& code) {
  std::optional<std::string> attributes;
  if (code.attributes) attributes = code.attributes->dump();
  m_insert_code.bind_all(m_release_id, code.code, code.kind, code.parent, code.chapter, code.section,
                         code.description, code.short_description, code.billable ? 1 : 0,
                         code.placeholder ? 1 : 0, code.seventh_char, code.seventh_meaning, attributes);
  m_insert_code.run();
  if (code.kind == "code") {
    ++m_n_codes;
    if (code.billable) ++m_n_billable;
  }
  return m_db.last_insert_rowid();
}

void ReleaseWriter::add_note(std::string_view owner, std::string_view kind, int seq, std::string_view text) {
  m_insert_note.bind_all(m_release_id, owner, kind, seq, text);
  m_insert_note.run();
}

void ReleaseWriter::add_seventh_character(std::string_view owner, std::string_view character,
                                          std::string_view meaning) {
  m_insert_seventh.bind_all(m_release_id, owner, character, meaning);
  m_insert_seventh.run();
}

std::int64_t ReleaseWriter::add_index_term(const IndexTermRow& term) {
  m_insert_term.bind_all(m_release_id, term.parent_id, term.level, term.title, term.path, term.code,
                         term.code_incomplete ? 1 : 0, term.manifestation_code, term.see, term.see_also);
  m_insert_term.run();
  return m_db.last_insert_rowid();
}

void ReleaseWriter::finish() {
  // Terms that lead to a code: its inclusion terms and every index path that names it.
  store::Statement fill = m_db.prepare(R"sql(
    INSERT INTO code_search (rowid, description, terms)
    SELECT c.id, c.description,
           coalesce(c.short_description, '') || ' | ' ||
           coalesce((SELECT group_concat(n.text, ' | ') FROM code_notes n
                      WHERE n.release_id = c.release_id AND n.owner = c.code AND n.kind = 'inclusion_term'), '')
           || ' | ' ||
           coalesce((SELECT group_concat(t.path, ' | ') FROM index_terms t
                      WHERE t.release_id = c.release_id AND t.code = c.code), '')
      FROM codes c
     WHERE c.release_id = ?)sql");
  fill.bind_all(m_release_id).run();
  store::Statement counts = m_db.prepare("UPDATE releases SET n_codes = ?, n_billable = ? WHERE id = ?");
  counts.bind_all(m_n_codes, m_n_billable, m_release_id).run();
}

}  // namespace medcode::codes
