// SQLite connection, statements and transactions; every failure becomes a medcode::Error.
#include "medcode/store/database.h"

#include <unistd.h>

#include <array>
#include <cstring>
#include <fstream>
#include <mutex>

#include "medcode/store/migrations.h"
#include "medcode/util/error.h"

namespace medcode::store {

namespace {

// 'MDCD': marks a SQLite file as a medcode store.
constexpr int k_application_id = 0x4D444344;

// The file of the connection's main database, for messages.
std::string store_file(sqlite3* db) {
  const char* name = db ? sqlite3_db_filename(db, "main") : nullptr;
  return name && *name ? name : "store";
}

// SQLite's result as medcode's exit code and words: what the file system refused is a storage error that
// names the store; a file that is not a database is an integrity failure; the rest are bugs.
[[noreturn]] void fail_with(sqlite3* db, int rc, std::string_view what, std::string_view message) {
  switch (rc & 0xFF) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      fail(ExitCode::integrity, "{}: {} ({})", store_file(db), message, what);
    case SQLITE_READONLY:
      fail(ExitCode::storage, "{}: the store is read-only ({}); nothing was changed", store_file(db), message);
    case SQLITE_FULL:
      fail(ExitCode::storage, "{}: disk full or file-size limit reached ({}); nothing was changed",
           store_file(db), message);
    case SQLITE_IOERR:
      fail(ExitCode::storage, "{}: I/O error ({}: {}); nothing was changed", store_file(db), message,
           std::strerror(sqlite3_system_errno(db)));
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      fail(ExitCode::storage, "{}: cannot open the store or its journal ({}: {})", store_file(db), message,
           std::strerror(sqlite3_system_errno(db)));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      fail(ExitCode::storage, "{}: the store stayed locked by another process ({})", store_file(db), message);
    default:
      fail(ExitCode::internal, "store {}: {}: {}", store_file(db), what, message);
  }
}

[[noreturn]] void fail_sqlite(sqlite3* db, int rc, std::string_view what) {
  const char* message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  fail_with(db, rc, what, message);
}

// What the first bytes of a store file say (https://www.sqlite.org/fileformat2.html#the_database_header).
struct FileHeader {
  bool sqlite = false;  // the magic string "SQLite format 3"
  bool wal = false;     // read and write versions 2: the file is in WAL mode (kept across connections)
};

FileHeader read_file_header(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ExitCode::storage, "{}: cannot read the store ({})", path.string(), std::strerror(errno));
  std::array<char, 20> header{};
  in.read(header.data(), header.size());
  static constexpr char k_magic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                       'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};
  FileHeader result;
  result.sqlite = in.gcount() >= 16 && std::equal(k_magic, k_magic + 16, header.begin());
  result.wal = result.sqlite && in.gcount() == 20 && header[18] == 2 && header[19] == 2;
  return result;
}

std::int64_t pragma_int(Database& db, std::string_view pragma) {
  Statement statement = db.prepare(std::string("PRAGMA ") + std::string(pragma));
  return statement.step() ? statement.column_int64(0) : 0;
}

// Refuses, before writing anything, a database that is not ours or is newer than this build.
void check_identity(Database& db, const fs::path& path, std::int64_t application_id, std::int64_t version) {
  if (application_id != 0 && application_id != k_application_id) {
    fail(ExitCode::integrity, "{}: a SQLite database of another application, not a medcode store",
         path.string());
  }
  if (application_id == 0) {
    Statement tables = db.prepare("SELECT count(*) FROM sqlite_master");
    tables.step();
    if (tables.column_int64(0) > 0) {
      fail(ExitCode::integrity, "{}: a SQLite database with other tables, not a medcode store",
           path.string());
    }
  }
  if (version > latest_schema_version()) {
    fail(ExitCode::integrity,
         "{}: store schema version {} was written by a newer medcode (this build knows up to {}); upgrade "
         "medcode",
         path.string(), version, latest_schema_version());
  }
}

// Once per process, before SQLite initialises: no global memory statistics (a mutex on every allocation) and
// multi-thread mode, since a connection is never shared between threads here.
void configure_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
  });
}

// Settings of the connection (none is kept in the file); 64 MiB page cache.
// An absolute file name as an SQLite URI (https://www.sqlite.org/uri.html): "file://" and the path with
// '%', '?' and '#' escaped.
std::string uri_of(const fs::path& path) {
  std::string uri = "file://";  // an empty authority, then the absolute path
  for (char c : path.string()) {
    if (c == '%' || c == '?' || c == '#') {
      uri += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      uri += c;
    }
  }
  return uri;
}

void configure(Database& db) {
  db.exec(
      "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;"
      " PRAGMA cache_size = -65536");
}

}  // namespace

Statement::Statement(sqlite3* db, std::string_view sql) : m_db(db) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                              nullptr);
  if (rc != SQLITE_OK) fail_sqlite(db, rc, "prepare '" + std::string(sql.substr(0, 60)) + "'");
  m_statement.reset(raw);
}

// A bind that SQLite refuses (a statement stepped without a reset, an index out of range) must not leave the
// previous value in place silently.
namespace {

void check_bind(sqlite3* db, sqlite3_stmt* statement, int rc, int index) {
  if (rc == SQLITE_OK) return;
  std::string sql = sqlite3_sql(statement);
  fail_sqlite(db, rc, "bind parameter " + std::to_string(index) + " of '" + sql.substr(0, 60) + "'");
}

}  // namespace

Statement& Statement::bind(int index, std::int64_t value) {
  check_bind(m_db, m_statement.get(), sqlite3_bind_int64(m_statement.get(), index, value), index);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  check_bind(m_db, m_statement.get(), sqlite3_bind_double(m_statement.get(), index, value), index);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  check_bind(m_db, m_statement.get(),
             sqlite3_bind_text(m_statement.get(), index, value.data(), static_cast<int>(value.size()),
                               SQLITE_TRANSIENT),
             index);
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  check_bind(m_db, m_statement.get(),
             sqlite3_bind_blob64(m_statement.get(), index, bytes.data(), bytes.size(), SQLITE_TRANSIENT), index);
  return *this;
}

void Statement::bind_view(int index, std::string_view value) {
  check_bind(m_db, m_statement.get(),
             sqlite3_bind_text(m_statement.get(), index, value.data(), static_cast<int>(value.size()),
                               SQLITE_STATIC),
             index);
}

Statement& Statement::bind(int index, std::nullptr_t) {
  check_bind(m_db, m_statement.get(), sqlite3_bind_null(m_statement.get(), index), index);
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(m_statement.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string sql = sqlite3_sql(m_statement.get());
  sqlite3_reset(m_statement.get());
  fail_sqlite(m_db, rc, "'" + sql.substr(0, 60) + "'");
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(m_statement.get());
  sqlite3_clear_bindings(m_statement.get());
}

std::int64_t Statement::column_int64(int index) const {
  return sqlite3_column_int64(m_statement.get(), index);
}
double Statement::column_double(int index) const { return sqlite3_column_double(m_statement.get(), index); }

std::string Statement::column_text(int index) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(m_statement.get(), index));
  if (!text) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(m_statement.get(), index)));
}

std::string Statement::column_blob(int index) const {
  const auto* bytes = static_cast<const char*>(sqlite3_column_blob(m_statement.get(), index));
  if (!bytes) return {};
  return std::string(bytes, static_cast<std::size_t>(sqlite3_column_bytes(m_statement.get(), index)));
}

std::optional<std::string> Statement::column_optional_text(int index) const {
  if (column_is_null(index)) return std::nullopt;
  return column_text(index);
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(m_statement.get(), index) == SQLITE_NULL;
}

Database::Database(std::unique_ptr<sqlite3, Closer> db, fs::path path)
    : m_db(std::move(db)), m_path(std::move(path)) {}

Database Database::open(const fs::path& path, OpenMode mode) {
  std::error_code error;
  fs::file_status status = fs::status(path, error);
  bool exists = fs::exists(status);
  if (!exists && mode == OpenMode::existing_only) {
    fail(ExitCode::bad_input, "{}: no such store (run an import first, or pass --db)", path.string());
  }
  if (exists && fs::is_directory(status))
    fail(ExitCode::usage, "{}: is a directory, not a store file", path.string());
  if (exists && !fs::is_regular_file(status)) {
    fail(ExitCode::usage, "{}: not a regular file (a device, a pipe or a socket); a store is a SQLite file",
         path.string());
  }
  FileHeader header;
  if (exists && fs::file_size(path, error) > 0) {
    header = read_file_header(path);
    if (!header.sqlite) fail(ExitCode::integrity, "{}: not a SQLite database; refusing to touch it", path.string());
  }
  fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (path.has_parent_path() && !fs::exists(folder)) {
    fail(ExitCode::usage, "{}: directory {} does not exist", path.string(), folder.string());
  }
  // SQLite follows a link to the store and keeps its WAL and index beside the file linked to.
  fs::path real = exists ? fs::canonical(path, error) : fs::absolute(path, error);
  if (error) fail(ExitCode::storage, "{}: cannot resolve the store's path ({})", path.string(), error.message());
  folder = real.parent_path();
  // The store and its folder (where SQLite keeps the WAL and its index) must be writable to write; a store
  // that is not is opened read-only, so that reading commands still work on a read-only file or mount.
  bool folder_writable = ::access(folder.c_str(), W_OK) == 0;
  int folder_errno = errno;
  if (!exists && !folder_writable) {
    fail(ExitCode::storage, "{}: cannot create the store: folder {} is not writable ({})", path.string(),
         folder.string(), std::strerror(folder_errno));
  }
  bool read_only = exists && (::access(real.c_str(), W_OK) != 0 || !folder_writable);
  configure_library();
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX;
  std::string name = path.string();
  if (read_only) {
    flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
    // On a read-only file system, with no WAL, WAL index or journal left beside it, nothing can be changing
    // the file: it is opened as immutable, which needs no WAL index. Anywhere else a writer may come, and
    // the store is read with the usual locks.
    auto beside = [&](const char* suffix) {
      fs::path file = real;
      file += suffix;
      return fs::exists(file, error);
    };
    bool immutable = !folder_writable && folder_errno == EROFS && !beside("-wal") && !beside("-shm") &&
                     !beside("-journal");
    name = uri_of(real) + (immutable ? "?immutable=1" : "?mode=ro");
  } else {
    flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  }
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  std::unique_ptr<sqlite3, Closer> handle(raw);
  if (rc != SQLITE_OK) fail_sqlite(raw, rc, "open " + path.string());
  sqlite3_busy_timeout(raw, 10000);
  sqlite3_extended_result_codes(raw, 0);
  Database db(std::move(handle), path);
  db.m_read_only = read_only;
  // Every command opens the store, and nearly always it is ours, up to date and in WAL mode (which the file
  // keeps): then two reads of the header page are all it costs. Anything else takes the full path.
  std::int64_t version = pragma_int(db, "user_version");
  std::int64_t application_id = pragma_int(db, "application_id");
  bool up_to_date = application_id == k_application_id && version == latest_schema_version() && header.wal;
  if (!up_to_date) {
    check_identity(db, path, application_id, version);
    if (read_only) {
      if (version != latest_schema_version()) {
        fail(ExitCode::storage,
             "{}: read-only, and written by an older medcode (schema {}; this build needs {}): open it once "
             "with write access to upgrade it",
             path.string(), version, latest_schema_version());
      }
    } else {
      db.exec("PRAGMA journal_mode = WAL");
    }
  }
  configure(db);
  if (!up_to_date && !read_only) migrate(db);
  return db;
}

Database Database::open_in_memory() {
  configure_library();
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  std::unique_ptr<sqlite3, Closer> handle(raw);
  if (rc != SQLITE_OK) fail_sqlite(raw, rc, "open :memory:");
  Database db(std::move(handle), ":memory:");
  configure(db);
  migrate(db);
  return db;
}

void Database::exec(std::string_view sql) {
  char* error = nullptr;
  std::string text(sql);
  int rc = sqlite3_exec(m_db.get(), text.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    fail_with(m_db.get(), rc, text.substr(0, 60), message);
  }
}

int Database::schema_version() { return static_cast<int>(pragma_int(*this, "user_version")); }

Transaction::Transaction(Database& db) : m_db(db) { m_db.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!m_done) sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  m_db.exec("COMMIT");
  m_done = true;
}

}  // namespace medcode::store
