#include "tierflow/sql/sqlite.h"

#include <sqlite3.h>

#include <utility>

namespace tierflow::sql::sqlite {
namespace {

[[noreturn]] void fail(sqlite3* db, int rc, std::string_view sql) {
  std::string msg = "sqlite: ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  msg += " (code " + std::to_string(rc) + ") in: ";
  msg += sql;
  throw Error(msg, rc);
}

}  // namespace

Db Db::open(const std::string& path, const Options& options) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (options.create) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);  // owns raw even when open failed (SQLite allocates a handle for the message)
  if (rc != SQLITE_OK) fail(raw, rc, "open " + path);
  rc = sqlite3_extended_result_codes(raw, 1);
  if (rc != SQLITE_OK) fail(raw, rc, "extended_result_codes");
  rc = sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  if (rc != SQLITE_OK) fail(raw, rc, "busy_timeout");
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA synchronous=NORMAL");
  db.exec("PRAGMA foreign_keys=ON");
  db.exec("PRAGMA temp_store=MEMORY");
  db.exec("PRAGMA cache_size=-" + std::to_string(options.cache_size_kib));
  return db;
}

Db::Db(Db&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Db::~Db() {
  // close_v2: if a Statement was (wrongly) left alive, the connection is closed when it
  // goes. It returns SQLITE_OK then too (a "zombie" close); no other result is possible
  // for a valid handle.
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

void Db::exec(std::string_view sql) {
  std::string owned(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error("sqlite: " + msg + " (code " + std::to_string(rc) + ") in: " + owned, rc);
  }
}

Statement Db::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) fail(db_, rc, sql);
  return Statement(stmt);
}

int64_t Db::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int64_t Db::changes() const { return sqlite3_changes64(db_); }
bool Db::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Statement::Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

// sqlite3_finalize() returns the statement's last step error, which step() already
// threw; the statement is freed whatever it returns.
Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

void Statement::check_bind(int rc, int index) const {
  if (rc != SQLITE_OK) {
    fail(sqlite3_db_handle(stmt_), rc, "bind ?" + std::to_string(index) + " of " + sql());
  }
}

Statement& Statement::bind_int64(int index, int64_t value) {
  check_bind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

namespace {
// An empty view may carry a null pointer, which SQLite would bind as NULL, not as ''.
const char* non_null(std::string_view v) { return v.data() != nullptr ? v.data() : ""; }
}  // namespace

Statement& Statement::bind_text(int index, std::string_view value) {
  check_bind(sqlite3_bind_text64(stmt_, index, non_null(value), value.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8),
             index);
  return *this;
}

Statement& Statement::bind_text_view(int index, std::string_view value) {
  check_bind(sqlite3_bind_text64(stmt_, index, non_null(value), value.size(), SQLITE_STATIC, SQLITE_UTF8),
             index);
  return *this;
}

Statement& Statement::bind_blob_view(int index, std::string_view bytes) {
  check_bind(sqlite3_bind_blob64(stmt_, index, non_null(bytes), bytes.size(), SQLITE_STATIC), index);
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  // A zero-length blob must still be a blob, not NULL: SQLite needs a non-null pointer.
  const void* data = bytes.data() != nullptr ? bytes.data() : "";
  check_bind(sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT), index);
  return *this;
}

Statement& Statement::bind_blob(int index, std::span<const std::byte> bytes) {
  return bind_blob(index,
                   std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

Statement& Statement::bind_null(int index) {
  check_bind(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Reset so the statement is usable again; the error stays in the connection's message.
  std::string text = sql();
  sqlite3* db = sqlite3_db_handle(stmt_);
  std::string msg = "sqlite: ";
  msg += sqlite3_errmsg(db);
  sqlite3_reset(stmt_);
  throw Error(msg + " (code " + std::to_string(rc) + ") in: " + text, rc);
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);           // its return repeats the last step's error, already reported
  sqlite3_clear_bindings(stmt_);  // always SQLITE_OK
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

bool Statement::column_is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

int64_t Statement::column_int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string_view Statement::column_text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  return p != nullptr ? std::string_view(p, static_cast<size_t>(n)) : std::string_view();
}

std::string_view Statement::column_blob(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  return p != nullptr ? std::string_view(p, static_cast<size_t>(n)) : std::string_view();
}

std::string Statement::sql() const {
  const char* s = stmt_ != nullptr ? sqlite3_sql(stmt_) : nullptr;
  return s != nullptr ? s : "";
}

Transaction::Transaction(Db& db) : db_(&db) { db_->exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) {
    try {
      if (db_->in_transaction()) db_->exec("ROLLBACK");
    } catch (const Error&) {
      // SQLite rolls back on its own when ROLLBACK cannot run; nothing left to undo.
    }
  }
}

void Transaction::commit() {
  db_->exec("COMMIT");
  done_ = true;
}

}  // namespace tierflow::sql::sqlite
