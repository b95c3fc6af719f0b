// tierflow::sql::sqlite: RAII handles over an SQLite connection and its prepared statements.
//
// Threading: a Db and every Statement prepared from it belong to one thread at a time
// (thread-compatible, not thread-safe). Use one Db per thread.
// Ownership: a Statement must be destroyed before the Db it came from; a Transaction must
// not outlive its Db. Moved-from objects are empty and may only be destroyed or assigned.
// Errors: every failing SQLite call throws sql::Error naming the SQL and SQLite's message.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace tierflow::sql {

// A failed SQL operation. what() reads "sqlite: <message> (code N) in: <sql>".
class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  // SQLite's extended result code (e.g. 2067 for a UNIQUE constraint).
  int code() const noexcept { return code_; }

 private:
  int code_;
};

namespace sqlite {

struct Options {
  int busy_timeout_ms = 5000;
  // Page cache in KiB (PRAGMA cache_size = -N). 256 MiB by default, as BASELINES.md measured.
  int64_t cache_size_kib = 256 * 1024;
  bool create = true;  // create the file if missing
};

class Statement;

// One connection. open() sets journal_mode=WAL, synchronous=NORMAL, the busy timeout,
// the cache size and foreign_keys=ON.
class Db {
 public:
  static Db open(const std::string& path, const Options& options = {});

  Db(Db&& other) noexcept;
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Runs one or more ';'-separated statements without results (schema, pragmas).
  void exec(std::string_view sql);
  Statement prepare(std::string_view sql);

  int64_t last_insert_rowid() const;
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t changes() const;
  bool in_transaction() const;

  // The raw handle, for calls this wrapper does not cover. Still owned by the Db.
  sqlite3* handle() const noexcept { return db_; }

 private:
  explicit Db(sqlite3* db) noexcept : db_(db) {}
  sqlite3* db_ = nullptr;
};

// A prepared statement. Parameters are 1-based, columns 0-based (SQLite's convention).
// Text/blob binds copy the bytes (SQLITE_TRANSIENT), so the arguments may die after bind.
// Column views (column_text/column_blob) stay valid until the next step/reset.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind_int64(int index, int64_t value);
  Statement& bind_text(int index, std::string_view value);
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_blob(int index, std::span<const std::byte> bytes);
  // Like bind_text/bind_blob without the copy (SQLITE_STATIC), for hot multi-row inserts:
  // the bytes must stay alive and unchanged until the statement has run (run()/reset()).
  Statement& bind_text_view(int index, std::string_view value);
  Statement& bind_blob_view(int index, std::string_view bytes);
  Statement& bind_null(int index);

  // Advances: true when a row is available, false when done. Throws on error.
  bool step();
  // Steps to completion (for statements without rows) and resets.
  void run();
  // Resets for re-execution and clears the bindings.
  void reset();

  int column_count() const;
  bool column_is_null(int col) const;
  int64_t column_int64(int col) const;
  std::string_view column_text(int col) const;
  std::string_view column_blob(int col) const;

  std::string sql() const;
  bool valid() const noexcept { return stmt_ != nullptr; }

 private:
  friend class Db;
  explicit Statement(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  void check_bind(int rc, int index) const;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE on construction (takes the write lock at once, so a busy database fails
// here and not halfway through); COMMIT on commit(); ROLLBACK on destruction when not
// committed. A ROLLBACK failing in the destructor is swallowed (SQLite already rolled back).
class Transaction {
 public:
  explicit Transaction(Db& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  void commit();
  bool committed() const noexcept { return done_; }

 private:
  Db* db_;
  bool done_ = false;
};

}  // namespace sqlite
}  // namespace tierflow::sql
