// RedisMux: many concurrent callers share ONE hiredis connection. Callers queue commands
// from any thread; one I/O thread writes everything queued as one pipeline, reads the
// replies in order and runs each caller's callback. Under load, the batches grow by
// themselves (everything that arrived while the previous batch was in flight), so Redis
// and the kernel see a few large reads and writes instead of one round trip per call.
//
// The prototype of what the classification service's GetTier should use instead of one
// blocking connection per gRPC thread (see tests/bench/classification/gettier_bench.cpp).
// (Letting the first waiting caller do the I/O instead of a dedicated thread was tried:
// no faster, and it blocks a gRPC thread.)
//
// Lifecycle: the constructor connects (throws redis::RedisError when it cannot); the
// destructor stops the I/O thread after failing whatever is still queued. Threading:
// hget() is thread-safe; callbacks run on the I/O thread and must not block (completing a
// gRPC reactor is fine). A broken connection fails the batch in flight and is reconnected
// for the next one.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/config/sections.h"

struct redisContext;

namespace tierflow::bench {

class RedisMux {
 public:
  enum class Outcome { value, nil, error };
  // `value`: the bulk string (value) or the error text (error); valid during the call only.
  using Callback = std::function<void(Outcome, std::string_view value)>;

  explicit RedisMux(const config::RedisConfig& cfg);
  ~RedisMux();
  RedisMux(const RedisMux&) = delete;
  RedisMux& operator=(const RedisMux&) = delete;

  // HGET key field; `done` runs exactly once, on the I/O thread.
  void hget(std::string key, std::string field, Callback done);

  // Batches written and commands sent so far (for the benchmark's report).
  uint64_t batches() const;
  uint64_t commands() const;

 private:
  struct Pending {
    std::string key, field;
    Callback done;
  };
  void run();
  void connect();
  // Sends `batch` and answers every callback in it. I/O thread only.
  void exchange(std::vector<Pending>& batch);

  config::RedisConfig cfg_;
  redisContext* ctx_ = nullptr;  // I/O thread only (after construction)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;
  bool stop_ = false;
  uint64_t batches_ = 0, commands_ = 0;
  std::thread io_;
};

}  // namespace tierflow::bench
