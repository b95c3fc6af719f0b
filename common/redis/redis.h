// RAII holder for one hiredis connection. Thread-compatible: one thread per Client
// (give each thread its own). Reconnects once on a broken connection before failing.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/sections.h"
#include "common/redis/mux.h"  // RedisError

struct redisContext;
struct redisReply;

namespace tierflow::redis {

// A reply, owned. Strings and integers are what this suite uses.
class Reply {
 public:
  explicit Reply(redisReply* reply);
  ~Reply();
  Reply(Reply&& other) noexcept;
  Reply& operator=(Reply&&) = delete;

  bool is_nil() const;
  bool is_error() const;
  bool is_string() const;  // bulk or status string
  std::string_view str() const;
  int64_t integer() const;
  size_t elements() const;
  Reply element(size_t i) const = delete;  // arrays: use element_str
  std::optional<std::string_view> element_str(size_t i) const;

 private:
  redisReply* reply_;
};

class Client {
 public:
  explicit Client(const config::RedisConfig& cfg);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One command, arguments binary-safe. Throws RedisError on a transport failure or an
  // error reply (the message names the command, not its arguments).
  Reply command(const std::vector<std::string_view>& argv);
  // Several commands in one round trip; replies in order. Error replies are returned,
  // not thrown, so the caller can tell which failed.
  std::vector<Reply> pipeline(const std::vector<std::vector<std::string_view>>& commands);

  std::string describe() const;  // "127.0.0.1:6379" for logs

 private:
  void connect();
  config::RedisConfig cfg_;
  redisContext* ctx_ = nullptr;
};

}  // namespace tierflow::redis
