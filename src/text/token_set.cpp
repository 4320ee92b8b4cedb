// Token sets in the store (tables token_sets and token_examples of migration 0004): writing one whole,
// finding and listing them, and reading their examples back with ids and masks decoded from their BLOBs.
#include "medcode/text/token_set.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <bit>
#include <cstring>
#include <memory>

#include "medcode/util/error.h"
#include "medcode/util/text.h"

namespace medcode::text {

namespace {

static_assert(std::endian::native == std::endian::little, "token ids are stored as int32 little-endian");

// store::Statement binds and reads text only; the id and mask columns are BLOBs, so their statements are
// prepared here on the connection's handle.
class BlobStatement {
 public:
  BlobStatement(store::Database& db, std::string_view sql) : m_db(db.handle()) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(m_db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
    m_statement.reset(raw);
    if (rc != SQLITE_OK) check(rc, "prepare");
  }

  sqlite3_stmt* get() const { return m_statement.get(); }

  void bind_int(int index, std::int64_t value) { check(sqlite3_bind_int64(get(), index, value), "bind"); }
  void bind_text(int index, std::string_view value) {
    // An empty view may have no data pointer, and a null pointer would bind NULL instead of ''.
    const char* data = value.data() ? value.data() : "";
    check(sqlite3_bind_text(get(), index, data, static_cast<int>(value.size()), SQLITE_TRANSIENT), "bind");
  }
  void bind_blob(int index, const void* data, std::size_t bytes) {
    // A zero-length blob must still be a blob, not NULL: sqlite3_bind_blob with a null pointer binds NULL.
    static const char k_empty = 0;
    check(sqlite3_bind_blob(get(), index, bytes ? data : &k_empty, static_cast<int>(bytes), SQLITE_TRANSIENT),
          "bind");
  }
  bool step() {
    int rc = sqlite3_step(get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    check(rc, "step");
    return false;
  }
  void run() {
    while (step()) {
    }
    sqlite3_reset(get());
    sqlite3_clear_bindings(get());
  }

  std::int64_t int_at(int column) const { return sqlite3_column_int64(get(), column); }
  std::string text_at(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(get(), column));
    return text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(get(), column)))
                : std::string();
  }
  template <typename T>
  std::vector<T> blob_at(int column) const {
    const void* data = sqlite3_column_blob(get(), column);
    auto bytes = static_cast<std::size_t>(sqlite3_column_bytes(get(), column));
    if (bytes % sizeof(T) != 0) {
      fail(ExitCode::integrity,
           "store: token_examples holds a BLOB of {} bytes, not a whole number of {}-byte values", bytes,
           sizeof(T));
    }
    std::vector<T> values(bytes / sizeof(T));
    if (bytes) std::memcpy(values.data(), data, bytes);
    return values;
  }

 private:
  void check(int rc, std::string_view what) const {
    if (rc != SQLITE_OK)
      fail(ExitCode::internal, "store: token_examples: {}: {}", what, sqlite3_errmsg(m_db));
  }
  struct Finalizer {
    void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
  };
  sqlite3* m_db;
  std::unique_ptr<sqlite3_stmt, Finalizer> m_statement;
};

constexpr std::string_view k_select_sets =
    "SELECT id, name, tokenizer_path, tokenizer_sha256, vocab_size, max_length, stats, source, created_at, "
    "prompt_format FROM token_sets";

TokenSetInfo read_info(const store::Statement& row) {
  TokenSetInfo info;
  info.id = row.column_int64(0);
  info.name = row.column_text(1);
  info.tokenizer_path = row.column_text(2);
  info.tokenizer_sha256 = row.column_text(3);
  info.vocab_size = static_cast<int>(row.column_int64(4));
  info.max_length = static_cast<int>(row.column_int64(5));
  info.stats = nlohmann::json::parse(row.column_text(6), nullptr, false);
  if (info.stats.is_discarded()) info.stats = nlohmann::json::object();
  info.source = nlohmann::json::parse(row.column_text(7), nullptr, false);
  if (info.source.is_discarded()) info.source = nlohmann::json::array();
  info.created_at = row.column_text(8);
  info.prompt_format = row.column_text(9);
  return info;
}

std::vector<std::string> parse_codes(const std::string& json, std::int64_t example_id) {
  nlohmann::json codes = nlohmann::json::parse(json, nullptr, false);
  if (!codes.is_array())
    fail(ExitCode::integrity, "store: token example {}: codes are not a JSON array", example_id);
  std::vector<std::string> result;
  for (const auto& code : codes) {
    if (!code.is_string())
      fail(ExitCode::integrity, "store: token example {}: a code is not a string", example_id);
    result.push_back(code.get<std::string>());
  }
  return result;
}

// A token set built with another tokenizer at the same path no longer matches the file it names.
void warn_about_overwritten_tokenizer(store::Database& db, const TokenSetInfo& info) {
  store::Statement others = db.prepare(
      "SELECT name FROM token_sets WHERE tokenizer_path = ? AND tokenizer_sha256 <> ? AND name <> ? ORDER BY "
      "name");
  others.bind_all(info.tokenizer_path.string(), info.tokenizer_sha256, info.name);
  std::vector<std::string> names;
  while (others.step()) names.push_back(others.column_text(0));
  if (!names.empty()) {
    spdlog::warn("token sets {} were built with an earlier tokenizer at {}; tokenize them again",
                 fmt::join(names, ", "), info.tokenizer_path.string());
  }
}

}  // namespace

std::int64_t save_token_set(store::Database& db, const TokenSetInfo& info,
                            const std::vector<TokenizedExample>& examples,
                            std::optional<std::int64_t> run_id) {
  store::Transaction transaction(db);
  // Examples first: ON DELETE CASCADE would do it, but only on a connection with foreign keys on.
  store::Statement remove_examples = db.prepare(
      "DELETE FROM token_examples WHERE token_set_id IN (SELECT id FROM token_sets WHERE name = ?)");
  remove_examples.bind(1, info.name);
  remove_examples.run();
  store::Statement remove = db.prepare("DELETE FROM token_sets WHERE name = ?");
  remove.bind(1, info.name);
  remove.run();

  store::Statement insert_set = db.prepare(
      "INSERT INTO token_sets (name, tokenizer_path, tokenizer_sha256, vocab_size, max_length, source, "
      "stats, created_at, run_id, prompt_format) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  std::string created_at = info.created_at.empty() ? util::utc_now_iso8601() : info.created_at;
  insert_set.bind_all(info.name, info.tokenizer_path.string(), info.tokenizer_sha256, info.vocab_size,
                      info.max_length, info.source.dump(), info.stats.dump(), created_at, run_id,
                      info.prompt_format);
  insert_set.run();
  const std::int64_t set_id = db.last_insert_rowid();

  BlobStatement insert(
      db,
      "INSERT INTO token_examples (token_set_id, split, seq, text, codes, input_ids, loss_mask, "
      "n_prompt, truncated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  std::int64_t seq = 0;
  for (const TokenizedExample& example : examples) {
    insert.bind_int(1, set_id);
    insert.bind_text(2, example.split);
    insert.bind_int(3, seq++);
    insert.bind_text(4, example.text);
    insert.bind_text(5, nlohmann::json(example.codes).dump());
    insert.bind_blob(6, example.input_ids.data(), example.input_ids.size() * sizeof(std::int32_t));
    insert.bind_blob(7, example.loss_mask.data(), example.loss_mask.size());
    insert.bind_int(8, static_cast<std::int64_t>(example.n_prompt));
    insert.bind_int(9, example.truncated ? 1 : 0);
    insert.run();
  }
  warn_about_overwritten_tokenizer(db, info);
  transaction.commit();
  return set_id;
}

TokenSetInfo find_token_set(store::Database& db, const std::string& name) {
  store::Statement select = db.prepare(std::string(k_select_sets) + " WHERE name = ?");
  select.bind(1, name);
  if (select.step()) return read_info(select);
  std::vector<std::string> names;
  for (const TokenSetInfo& info : list_token_sets(db)) names.push_back(info.name);
  fail(ExitCode::usage, "no token set named '{}'; the store holds {}", name,
       names.empty() ? "none (run `medcode tokenize` first)" : fmt::format("{}", fmt::join(names, ", ")));
}

std::vector<TokenSetInfo> list_token_sets(store::Database& db) {
  store::Statement select = db.prepare(std::string(k_select_sets) + " ORDER BY name");
  std::vector<TokenSetInfo> sets;
  while (select.step()) sets.push_back(read_info(select));
  return sets;
}

std::vector<TokenizedExample> load_token_examples(store::Database& db, std::int64_t token_set_id,
                                                  std::string_view split) {
  BlobStatement select(
      db,
      "SELECT id, split, text, codes, input_ids, loss_mask, n_prompt, truncated "
      "FROM token_examples WHERE token_set_id = ?1 AND (?2 = '' OR split = ?2) ORDER BY seq");
  select.bind_int(1, token_set_id);
  select.bind_text(2, split);
  std::vector<TokenizedExample> examples;
  while (select.step()) {
    TokenizedExample example;
    example.id = select.int_at(0);
    example.split = select.text_at(1);
    example.text = select.text_at(2);
    example.codes = parse_codes(select.text_at(3), example.id);
    example.input_ids = select.blob_at<std::int32_t>(4);
    example.loss_mask = select.blob_at<std::uint8_t>(5);
    example.n_prompt = static_cast<std::size_t>(select.int_at(6));
    example.truncated = select.int_at(7) != 0;
    if (example.loss_mask.size() != example.input_ids.size()) {
      fail(ExitCode::integrity, "store: token example {}: {} ids but a mask of {}", example.id,
           example.input_ids.size(), example.loss_mask.size());
    }
    examples.push_back(std::move(example));
  }
  return examples;
}

}  // namespace medcode::text
