// The SQLite store: an RAII connection, prepared statements and transactions.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace medcode::store {

namespace fs = std::filesystem;

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);  // copied (SQLITE_TRANSIENT)
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, std::nullptr_t);
  // Bytes bound as a BLOB (copied).
  Statement& bind_blob(int index, std::string_view bytes);
  // Text bound by pointer, without a copy: `value` must stay valid until the statement is stepped.
  Statement& bind_text_view(int index, std::string_view value) {
    bind_view(index, value);
    return *this;
  }
  template <typename T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, nullptr);
  }
  // Binds every argument in order, from index 1.
  template <typename... Args>
  Statement& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Binds every argument in order without copying text (the arguments outlive the call), runs the statement
  // to completion and resets it: the fast path for bulk inserts.
  template <typename... Args>
  void run_with(const Args&... args) {
    int index = 0;
    (bind_view(++index, args), ...);
    run();
  }

  // True while a row is available; false when done. Throws on error.
  bool step();
  // Runs to completion (for INSERT/UPDATE/DELETE), then resets for reuse.
  void run();
  void reset();

  std::int64_t column_int64(int index) const;
  double column_double(int index) const;
  std::string column_text(int index) const;
  std::optional<std::string> column_optional_text(int index) const;
  std::string column_blob(int index) const;  // the bytes of a BLOB (or of text), "" for NULL
  bool column_is_null(int index) const;

 private:
  // Text bound by pointer (SQLITE_STATIC); every other type as bind() does.
  void bind_view(int index, std::string_view value);
  void bind_view(int index, const std::string& value) { bind_view(index, std::string_view(value)); }
  void bind_view(int index, const char* value) { bind_view(index, std::string_view(value)); }
  template <typename T>
  void bind_view(int index, const std::optional<T>& value) {
    if (value) {
      bind_view(index, *value);
    } else {
      bind(index, nullptr);
    }
  }
  template <typename T>
  void bind_view(int index, const T& value) {
    bind(index, value);
  }

  struct Finalizer {
    void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
  };
  sqlite3* m_db;
  std::unique_ptr<sqlite3_stmt, Finalizer> m_statement;
};

enum class OpenMode {
  create,         // create the file and migrate it to the current schema if needed
  existing_only,  // fail (bad_input) when the store does not exist
};

class Database {
 public:
  // Opens (and migrates) the store. A file that is not a SQLite database, or a store written by a newer
  // medcode, fails with Error(integrity) before anything is written to it.
  static Database open(const fs::path& path, OpenMode mode = OpenMode::create);
  // An in-memory store, migrated; for tests.
  static Database open_in_memory();

  sqlite3* handle() const { return m_db.get(); }
  const fs::path& path() const { return m_path; }

  void exec(std::string_view sql);
  Statement prepare(std::string_view sql) { return Statement(m_db.get(), sql); }
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(m_db.get()); }
  int changes() const { return sqlite3_changes(m_db.get()); }
  int schema_version();
  // Opened read-only because the file or its folder cannot be written (a read-only file or mount): reads
  // work, a write fails with Error(storage) naming the file.
  bool read_only() const { return m_read_only; }

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  Database(std::unique_ptr<sqlite3, Closer> db, fs::path path);
  std::unique_ptr<sqlite3, Closer> m_db;
  fs::path m_path;
  bool m_read_only = false;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& m_db;
  bool m_done = false;
};

}  // namespace medcode::store
