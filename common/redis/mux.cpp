#include "common/redis/mux.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sys/time.h>

#include <absl/base/thread_annotations.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

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
using HiredisReply = std::unique_ptr<redisReply, ReplyDeleter>;

struct TransportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

timeval to_timeval(std::chrono::milliseconds d) {
  const auto ms = d.count();
  return {static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

std::string address_of(const config::RedisConfig& cfg) {
  return cfg.unix_socket.empty() ? cfg.host + ":" + std::to_string(cfg.port) : cfg.unix_socket;
}

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
    case REDIS_REPLY_ARRAY:
      out.kind = Mux::Reply::Kind::array;
      out.array = r;
      break;
    default:
      out.kind = Mux::Reply::Kind::other;
  }
  return out;
}
}  // namespace

size_t Mux::Reply::elements() const { return array != nullptr ? array->elements : 0; }

Mux::Reply Mux::Reply::element(size_t i) const {
  if (i >= elements()) {
    throw std::out_of_range("redis reply: element " + std::to_string(i) + " of " + std::to_string(elements()));
  }
  return view(array->element[i]);
}

OwnedReply OwnedReply::copy_of(const Mux::Reply& r) {
  OwnedReply out;
  out.kind = r.kind;
  out.str = std::string(r.str);
  out.integer = r.integer;
  out.elements.reserve(r.elements());
  for (size_t i = 0; i < r.elements(); ++i) out.elements.push_back(copy_of(r.element(i)));
  return out;
}

struct Mux::Impl {
  struct Group {
    std::vector<Command> commands;
    Callback done;
  };

  explicit Impl(const config::RedisConfig& c) : cfg(c) {}

  // "redis unavailable (<where>): <why>", the prefix grpcx::to_status and tests look for.
  std::string unavailable(std::string_view why) const {
    return "redis unavailable (" + address_of(cfg) + "): " + std::string(why);
  }

  // I/O thread only.
  void connect() {
    const timeval tv = to_timeval(cfg.timeout);
    Context fresh(cfg.unix_socket.empty() ? redisConnectWithTimeout(cfg.host.c_str(), cfg.port, tv)
                                          : redisConnectUnixWithTimeout(cfg.unix_socket.c_str(), tv));
    if (!fresh) throw TransportError(unavailable("cannot allocate a connection"));
    if (fresh->err != 0) throw TransportError(unavailable("cannot connect: " + std::string(fresh->errstr)));
    if (redisSetTimeout(fresh.get(), tv) != REDIS_OK) {
      throw TransportError(unavailable("cannot set the socket timeout: " + std::string(fresh->errstr)));
    }
    ctx = std::move(fresh);
    std::lock_guard lock(mu);
    ++stats.connects;
  }

  void run() {
    // hiredis writes with write(2): a peer that went away would raise SIGPIPE. Blocked on
    // this thread (synchronous signals go to the thread that caused them), it becomes an
    // EPIPE error and a reconnect, whatever the process's disposition. These calls fail
    // only on an invalid signal number or mask, which would be a bug here.
    sigset_t pipe;
    if (sigemptyset(&pipe) != 0 || sigaddset(&pipe, SIGPIPE) != 0 || pthread_sigmask(SIG_BLOCK, &pipe, nullptr) != 0) {
      std::fprintf(stderr, "redis mux: cannot block SIGPIPE on the I/O thread\n");
      std::abort();
    }
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
    std::vector<HiredisReply> owned;
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
            throw TransportError(unavailable(ctx->errstr));
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
            throw TransportError(unavailable(ctx->err != 0 ? ctx->errstr : "no reply"));
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
  std::vector<Group> queue ABSL_GUARDED_BY(mu);
  bool stop ABSL_GUARDED_BY(mu) = false;
  Stats stats ABSL_GUARDED_BY(mu);
  std::thread io;  // its id tells call_all() it runs on the I/O thread
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

std::vector<OwnedReply> Mux::call_all(std::vector<Command> commands, std::chrono::milliseconds timeout) {
  if (std::this_thread::get_id() == impl_->io.get_id()) {
    throw std::logic_error("redis mux: a blocking call from a callback would wait for itself");
  }
  // Shared with the callback, which may run after a timeout made this call give up.
  struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    bool done ABSL_GUARDED_BY(mu) = false;
    std::string error ABSL_GUARDED_BY(mu);
    std::vector<OwnedReply> replies ABSL_GUARDED_BY(mu);
  };
  auto outcome = std::make_shared<Outcome>();
  submit(std::move(commands), [outcome](std::span<const Reply> replies, std::string_view error) {
    std::vector<OwnedReply> owned;
    owned.reserve(replies.size());
    for (const auto& r : replies) owned.push_back(OwnedReply::copy_of(r));
    {
      std::lock_guard lock(outcome->mu);
      outcome->done = true;
      outcome->error = std::string(error);
      outcome->replies = std::move(owned);
    }
    outcome->cv.notify_one();
  });
  std::unique_lock lock(outcome->mu);
  if (!outcome->cv.wait_for(lock, timeout, [&] { return outcome->done; })) {
    throw RedisError(impl_->unavailable("no reply within " + std::to_string(timeout.count()) + " ms"));
  }
  if (!outcome->error.empty()) throw RedisError(outcome->error);
  return std::move(outcome->replies);
}

OwnedReply Mux::call(Command command, std::chrono::milliseconds timeout) {
  const std::string name = command.empty() ? std::string() : command.front();
  auto replies = call_all({std::move(command)}, timeout);
  if (replies.size() != 1) throw RedisError("redis " + describe() + ": " + name + ": no reply");
  if (replies.front().is_error()) throw RedisError("redis " + describe() + ": " + name + ": " + replies.front().str);
  return std::move(replies.front());
}

std::string Mux::describe() const { return address_of(impl_->cfg); }

Mux::Stats Mux::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace tierflow::redis
