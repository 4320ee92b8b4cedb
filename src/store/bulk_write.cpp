// One sync for a large write transaction, instead of one for the WAL and one for the store file.
#include "medcode/store/bulk_write.h"

#include <spdlog/spdlog.h>

#include "medcode/util/error.h"

namespace medcode::store {

namespace {

// Syncs one of the connection's files: SQLITE_FCNTL_FILE_POINTER (the store) or _JOURNAL_POINTER (the WAL).
void sync_file(Database& db, int which, const char* what) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db.handle(), "main", which, &file) != SQLITE_OK || !file || !file->pMethods) return;
  int rc = file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
  if (rc != SQLITE_OK) fail(ExitCode::internal, "store: {}: cannot sync {}: {}", db.path().string(), what,
                            sqlite3_errstr(rc));
}

}  // namespace

BulkWrite::BulkWrite(Database& db) : m_db(db) { m_db.exec("PRAGMA synchronous = OFF"); }

BulkWrite::~BulkWrite() {
  if (sqlite3_exec(m_db.handle(), "PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
    spdlog::warn("store: could not set synchronous back to NORMAL");
  }
}

void BulkWrite::sync() {
  // The commit has usually checkpointed already (the WAL passed wal_autocheckpoint); a reader holding an
  // older snapshot may have kept part of it in the WAL, which is then synced too.
  Statement checkpoint = m_db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  bool complete = true;
  if (checkpoint.step()) complete = checkpoint.column_int64(1) == checkpoint.column_int64(2);
  checkpoint.reset();
  if (!complete) sync_file(m_db, SQLITE_FCNTL_JOURNAL_POINTER, "the WAL");
  sync_file(m_db, SQLITE_FCNTL_FILE_POINTER, "the store file");
}

}  // namespace medcode::store
