#include "redis_mux.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include "common/redis/redis.h"

namespace tierflow::bench {

RedisMux::RedisMux(const config::RedisConfig& cfg) : cfg_(cfg) {
  connect();
  io_ = std::thread([this] { run(); });
}

RedisMux::~RedisMux() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  io_.join();
  for (auto& p : queue_) p.done(Outcome::error, "redis mux stopped");
  if (ctx_ != nullptr) redisFree(ctx_);
}

void RedisMux::connect() {
  if (ctx_ != nullptr) redisFree(ctx_);
  const auto ms = cfg_.timeout.count();
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  ctx_ = cfg_.unix_socket.empty() ? redisConnectWithTimeout(cfg_.host.c_str(), cfg_.port, tv)
                                  : redisConnectUnixWithTimeout(cfg_.unix_socket.c_str(), tv);
  if (ctx_ == nullptr) throw redis::RedisError("redis mux: cannot allocate a connection");
  if (ctx_->err != 0) {
    std::string why = ctx_->errstr;
    redisFree(ctx_);
    ctx_ = nullptr;
    throw redis::RedisError("redis mux: cannot connect: " + why);
  }
  redisSetTimeout(ctx_, tv);
}

void RedisMux::hget(std::string key, std::string field, Callback done) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back({std::move(key), std::move(field), std::move(done)});
  }
  cv_.notify_one();
}

uint64_t RedisMux::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}
uint64_t RedisMux::commands() const {
  std::lock_guard lock(mu_);
  return commands_;
}

void RedisMux::run() {
  std::vector<Pending> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      batch.swap(queue_);
      ++batches_;
      commands_ += batch.size();
    }
    exchange(batch);
    batch.clear();
  }
}

void RedisMux::exchange(std::vector<Pending>& batch) {
  size_t answered = 0;
  try {
    if (ctx_ == nullptr) connect();
    for (const auto& p : batch) {
      const char* argv[3] = {"HGET", p.key.data(), p.field.data()};
      const size_t lens[3] = {4, p.key.size(), p.field.size()};
      if (redisAppendCommandArgv(ctx_, 3, argv, lens) != REDIS_OK) throw redis::RedisError(ctx_->errstr);
    }
    for (; answered < batch.size(); ++answered) {
      void* raw = nullptr;
      if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) throw redis::RedisError(ctx_->errstr);
      auto* r = static_cast<redisReply*>(raw);
      if (r->type == REDIS_REPLY_NIL) {
        batch[answered].done(Outcome::nil, {});
      } else if (r->type == REDIS_REPLY_STRING) {
        batch[answered].done(Outcome::value, std::string_view(r->str, r->len));
      } else {
        batch[answered].done(Outcome::error, r->type == REDIS_REPLY_ERROR ? std::string_view(r->str, r->len)
                                                                          : std::string_view("unexpected reply"));
      }
      freeReplyObject(r);
    }
  } catch (const std::exception& e) {
    // The connection is in an unknown state: fail the rest of the batch, reconnect next time.
    for (size_t i = answered; i < batch.size(); ++i) batch[i].done(Outcome::error, e.what());
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
  }
}

}  // namespace tierflow::bench
