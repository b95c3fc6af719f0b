// A real redis-server for integration tests and benchmarks: a child process on a Unix
// socket (no port to collide with parallel tests) and a free TCP port, under a directory of
// the test's, without persistence (--save '', --appendonly no), so a restart loses
// everything, like a cache that crashed.
//
// Lifecycle: the constructor starts it and returns once it answers PING; the destructor
// stops it. restart() stops and starts it again (empty). Threading: thread-compatible.
// Errors: std::runtime_error naming the binary with the tail of its log when it does not
// come up within 10 s; redis-server missing from PATH is such an error.
#pragma once

#include <memory>
#include <string>

#include "common/config/sections.h"
#include "tests/support/process.h"

namespace tierflow::test_support {

class RedisServer {
 public:
  // `dir` holds the socket and the log; `binary` is looked up on PATH unless absolute.
  explicit RedisServer(std::string dir, std::string binary = "redis-server");
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // For services and clients: the Unix socket (wins over host/port in redis::Mux).
  config::RedisConfig config() const;
  int port() const { return port_; }
  const std::string& socket_path() const { return socket_; }
  pid_t pid() const { return process_ ? process_->pid() : 0; }

  // Stops the server and starts an empty one on the same socket and port.
  void restart();

 private:
  void start();
  std::string dir_;
  std::string binary_;
  std::string socket_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace tierflow::test_support
