#include "tierflow/sql/checkpointer.h"

#include <pthread.h>
#include <sqlite3.h>

namespace tierflow::sql::sqlite {

Checkpointer::Checkpointer(const std::string& path, Db& writer, int limit_pages)
    : limit_pages_(limit_pages), writer_(writer.handle()), db_(Db::open(path)), thread_([this] { run(); }) {
  sqlite3_wal_hook(writer_, &Checkpointer::on_commit, this);
}

Checkpointer::~Checkpointer() {
  // The writer outlives this object: it must stop calling into it.
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

int Checkpointer::on_commit(void* self, sqlite3* writer, const char* schema, int wal_pages) {
  auto* c = static_cast<Checkpointer*>(self);
  if (wal_pages >= c->limit_pages_) {
    sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (wal_pages >= kStartPages) {
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

}  // namespace tierflow::sql::sqlite
