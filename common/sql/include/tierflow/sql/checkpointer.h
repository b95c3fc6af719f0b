// tierflow::sql::sqlite::Checkpointer: copies a writer's write-ahead log back into the
// database file on a thread and connection of its own, so a COMMIT does not pay for it
// (SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold).
//
// Started by the writing connection's WAL hook once the log holds `start_pages`; when the
// log still grows past `limit_pages` (the copy cannot keep up), the committing thread
// checkpoints itself, as SQLite would. A store whose single commits are larger than the
// limit (classification's evaluations) passes a limit above them, or each such commit
// would copy the log inline again.
//
// Lifecycle: made after the writer's Db is opened, destroyed before it closes (declare it
// after the Db). Replaces any WAL hook on the writer (SQLite's automatic checkpoint is one).
// Threading: its thread only checkpoints through its own connection; the hook runs on the
// writer's thread. A checkpoint that finds the database busy is skipped: the next commit
// asks again.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "tierflow/sql/sqlite.h"

namespace tierflow::sql::sqlite {

class Checkpointer {
 public:
  static constexpr int kStartPages = 1000;  // SQLite's default auto-checkpoint threshold
  static constexpr int kLimitPages = 32000;

  // `path` is the writer's database file (opened again here). Throws sql::Error when it
  // cannot be opened.
  Checkpointer(const std::string& path, Db& writer, int limit_pages = kLimitPages);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

 private:
  static int on_commit(void* self, sqlite3* writer, const char* schema, int wal_pages);
  void run();

  const int limit_pages_;
  sqlite3* writer_;
  Db db_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;  // guarded by mu_
  bool stop_ = false;    // guarded by mu_
  std::thread thread_;   // last: starts once the members above exist
};

}  // namespace tierflow::sql::sqlite
