// redis::Mux: many concurrent callers share ONE Redis connection. Callers submit commands
// from any thread with a completion callback; one I/O thread writes everything queued so
// far as one pipeline, reads the replies in order and runs the callbacks. Under load the
// pipelines grow by themselves (whatever arrived while the previous one was in flight), so
// Redis and the kernel see a few large reads and writes instead of a round trip per call.
//
// Lifecycle: the constructor starts the I/O thread and does not connect; the first batch
// connects (so a service starts while Redis is down and answers UNAVAILABLE meanwhile).
// The destructor fails whatever is still queued ("redis mux stopped"), then joins the I/O
// thread and closes the connection.
//
// Failures: a transport failure or timeout (RedisConfig::timeout) fails every group in the
// batch in flight that has not been answered, closes the connection, and the next batch
// connects again; a failed connect fails that batch. Errors reach each caller's callback,
// never an exception. Error replies (e.g. WRONGTYPE) are delivered per command as replies.
//
// Threading: submit() is thread-safe and never blocks on I/O. Callbacks run on the I/O
// thread, exactly once per submit, in submission order; they must not block (completing a
// gRPC reactor is fine) and must not call into this Mux's destructor.
//
// Blocking use (tests, tools, admin paths): call() and call_all() submit and wait, with a
// timeout, for owned copies of the replies; they throw RedisError instead of calling back.
// Not for the data path of a server (they hold the calling thread), and never from a
// callback (the I/O thread would wait for itself: they throw std::logic_error there).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/sections.h"

struct redisReply;

namespace tierflow::redis {

struct OwnedReply;

// A transport failure (cannot connect, connection lost, no reply in time) or, from the
// blocking calls that say so, an error reply. what() names the server, never arguments.
class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Mux {
 public:
  // One reply, borrowed: valid only during the callback.
  struct Reply {
    enum class Kind : uint8_t { string, nil, integer, error, array, other };
    Kind kind = Kind::other;
    std::string_view str;  // string (bulk or status) and error text
    int64_t integer = 0;
    // Arrays: the number of elements and each one, borrowed like this reply.
    size_t elements() const;
    Reply element(size_t i) const;        // i < elements()
    const ::redisReply* array = nullptr;  // the hiredis array behind element(); internal
  };
  // `error` empty: one reply per command of the group, in order. `error` set: the group
  // was not (completely) answered, `replies` is empty; the text says why.
  using Callback = std::function<void(std::span<const Reply> replies, std::string_view error)>;
  using Command = std::vector<std::string>;

  explicit Mux(const config::RedisConfig& cfg);
  ~Mux();
  Mux(const Mux&) = delete;
  Mux& operator=(const Mux&) = delete;

  // Queues `commands` (sent back to back in one pipeline, never split across batches);
  // `done` runs once on the I/O thread. An empty group is answered at once, on the caller.
  void submit(std::vector<Command> commands, Callback done);

  // Blocking: sends `commands` as one group and waits up to `timeout` for the replies, in
  // order, owned. Error replies (WRONGTYPE, ...) are returned, not thrown. Throws
  // RedisError on a transport failure, a failed connect, no answer within `timeout`, or a
  // stopped mux. An empty group returns an empty vector.
  std::vector<OwnedReply> call_all(std::vector<Command> commands, std::chrono::milliseconds timeout);
  // Blocking, one command: as call_all(), and an error reply is thrown as RedisError too
  // (naming the command, not its arguments).
  OwnedReply call(Command command, std::chrono::milliseconds timeout);

  // "host:port" or the Unix socket path, for logs and error messages.
  std::string describe() const;

  struct Stats {
    uint64_t batches = 0;      // pipelines written
    uint64_t commands = 0;     // commands sent
    uint64_t connects = 0;     // connections opened
    uint64_t failures = 0;     // batches failed by the transport (or a failed connect)
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A reply copied out of the mux: safe to keep. Arrays keep their elements (recursively).
struct OwnedReply {
  using Kind = Mux::Reply::Kind;
  Kind kind = Kind::other;
  std::string str;  // string (bulk or status) and error text
  int64_t integer = 0;
  std::vector<OwnedReply> elements;  // arrays

  static OwnedReply copy_of(const Mux::Reply& r);
  bool is_nil() const { return kind == Kind::nil; }
  bool is_error() const { return kind == Kind::error; }
  bool is_string() const { return kind == Kind::string; }
};

}  // namespace tierflow::redis
