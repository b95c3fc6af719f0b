#include "common/redis/mux.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sys/time.h>

#include <csignal>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace tierflow::redis {

namespace {
// hiredis context, owned.
struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using OwnedReply = std::unique_ptr<redisReply, ReplyDeleter>;

struct TransportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Mux::Reply view(const redisReply* r) {
  Mux::Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.kind = Mux::Reply::Kind::string;
      out.str = std::string_view(r->str, r->len);
      break;
    case REDIS_REPLY_NIL:
      out.kind = Mux::Reply::Kind::nil;
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = Mux::Reply::Kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ERROR:
      out.kind = Mux::Reply::Kind::error;
      out.str = std::string_view(r->str, r->len);
      break;
    default:
      out.kind = Mux::Reply::Kind::other;
  }
  return out;
}
}  // namespace

struct Mux::Impl {
  struct Group {
    std::vector<Command> commands;
    Callback done;
  };

  explicit Impl(const config::RedisConfig& c) : cfg(c) {}

  // I/O thread only.
  void connect() {
    const auto ms = cfg.timeout.count();
    timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
    Context fresh(cfg.unix_socket.empty() ? redisConnectWithTimeout(cfg.host.c_str(), cfg.port, tv)
                                          : redisConnectUnixWithTimeout(cfg.unix_socket.c_str(), tv));
    if (!fresh) throw TransportError("redis: cannot allocate a connection");
    if (fresh->err != 0) throw TransportError("redis unavailable: cannot connect: " + std::string(fresh->errstr));
    if (redisSetTimeout(fresh.get(), tv) != REDIS_OK) throw TransportError("redis: cannot set the timeout");
    ctx = std::move(fresh);
    std::lock_guard lock(mu);
    ++stats.connects;
  }

  void run() {
    // hiredis writes with write(2): a peer that went away would raise SIGPIPE. Blocked on
    // this thread (synchronous signals go to the thread that caused them), it becomes an
    // EPIPE error and a reconnect, whatever the process's disposition.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    std::vector<Group> batch;
    while (true) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stop || !queue.empty(); });
        if (stop) return;  // the destructor fails what is queued
        batch.swap(queue);
        ++stats.batches;
        for (const auto& g : batch) stats.commands += g.commands.size();
      }
      exchange(batch);
      batch.clear();
    }
  }

  // Sends every group of `batch` as one pipeline and answers each. I/O thread only.
  void exchange(std::vector<Group>& batch) {
    size_t answered = 0;
    std::vector<OwnedReply> owned;
    std::vector<Reply> views;
    try {
      if (!ctx) connect();
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const auto& g : batch) {
        for (const auto& cmd : g.commands) {
          argv.clear();
          lens.clear();
          for (const auto& a : cmd) {
            argv.push_back(a.data());
            lens.push_back(a.size());
          }
          if (redisAppendCommandArgv(ctx.get(), static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
            throw TransportError("redis unavailable: " + std::string(ctx->errstr));
          }
        }
      }
      for (; answered < batch.size(); ++answered) {
        Group& g = batch[answered];
        owned.clear();
        views.clear();
        for (size_t i = 0; i < g.commands.size(); ++i) {
          void* raw = nullptr;
          if (redisGetReply(ctx.get(), &raw) != REDIS_OK || raw == nullptr) {
            throw TransportError("redis unavailable: " + std::string(ctx->errstr));
          }
          owned.emplace_back(static_cast<redisReply*>(raw));
          views.push_back(view(owned.back().get()));
        }
        g.done(views, {});
      }
    } catch (const TransportError& e) {
      // The connection is in an unknown state: fail the rest, reconnect for the next batch.
      ctx.reset();
      {
        std::lock_guard lock(mu);
        ++stats.failures;
      }
      for (size_t i = answered; i < batch.size(); ++i) batch[i].done({}, e.what());
    }
  }

  const config::RedisConfig cfg;
  Context ctx;  // I/O thread only
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<Group> queue;
  bool stop = false;
  Stats stats;
  std::thread io;
};

Mux::Mux(const config::RedisConfig& cfg) : impl_(std::make_unique<Impl>(cfg)) {
  impl_->io = std::thread([impl = impl_.get()] { impl->run(); });
}

Mux::~Mux() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  impl_->io.join();
  for (auto& g : impl_->queue) g.done({}, "redis mux stopped");
}

void Mux::submit(std::vector<Command> commands, Callback done) {
  if (commands.empty()) {
    done({}, {});
    return;
  }
  {
    std::lock_guard lock(impl_->mu);
    impl_->queue.push_back({std::move(commands), std::move(done)});
  }
  impl_->cv.notify_one();
}

Mux::Stats Mux::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace tierflow::redis
