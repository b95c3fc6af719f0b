#include "sqlite_support.h"

#include <pthread.h>

namespace tierflow::ledger::sqlite_support {

std::string values_sql(std::string_view head, int cols, size_t rows) {
  std::string group = "(";
  for (int c = 0; c < cols; ++c) group += c == 0 ? "?" : ",?";
  group += ")";
  std::string sql(head);
  sql += " VALUES";
  for (size_t r = 0; r < rows; ++r) {
    if (r > 0) sql += ',';
    sql += group;
  }
  return sql;
}

Checkpointer::Checkpointer(const std::string& path, sqlite3* writer)
    : db_(sql::sqlite::Db::open(path)), thread_([this] { run(); }) {
  sqlite3_wal_hook(writer, &Checkpointer::on_commit, this);
}
Checkpointer::~Checkpointer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

int Checkpointer::on_commit(void* self, sqlite3* writer, const char* schema, int wal_pages) {
  if (wal_pages >= kWalLimitPages) {
    sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (wal_pages >= kStartPages) {
    auto* c = static_cast<Checkpointer*>(self);
    {
      std::lock_guard lock(c->mu_);
      c->wanted_ = true;
    }
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::run() {
  pthread_setname_np(pthread_self(), "sqlite-ckpt");
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return wanted_ || stop_; });
      if (stop_) return;
      wanted_ = false;
    }
    // Busy or locked: the next commit asks again.
    sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
}

}  // namespace tierflow::ledger::sqlite_support
