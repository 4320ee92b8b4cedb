// Settings for one large write transaction, such as a code-set import: no fsync while it runs and as it
// commits, one at the end.
#pragma once

#include "medcode/store/database.h"

namespace medcode::store {

// Create before the store::Transaction it covers, and call sync() after that transaction's commit():
//
//   store::BulkWrite bulk(db);
//   store::Transaction transaction(db);
//   ... write ...
//   transaction.commit();
//   bulk.sync();
//
// The store stays in WAL mode, so a process killed at any point leaves it consistent: uncommitted WAL frames
// are ignored when it is next opened, and what was written is in the operating system's hands either way.
// What is given up is safety against an operating-system crash or power loss between the commit and sync():
// the commit's checkpoint copies pages into the store file without syncing the WAL first. In exchange the
// import syncs the store once instead of twice (WAL, then store file), a tenth of its time or more.
class BulkWrite {
 public:
  explicit BulkWrite(Database& db);  // PRAGMA synchronous = OFF, which cannot change inside a transaction
  ~BulkWrite();                      // back to synchronous = NORMAL, whatever happened
  BulkWrite(const BulkWrite&) = delete;
  BulkWrite& operator=(const BulkWrite&) = delete;

  // After the commit: copies what the WAL still holds into the store file and syncs the files once.
  void sync();

 private:
  Database& m_db;
};

}  // namespace medcode::store
