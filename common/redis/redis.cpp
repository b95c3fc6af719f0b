#include "common/redis/redis.h"

#include <hiredis/hiredis.h>

#include <fmt/format.h>

namespace tierflow::redis {

Reply::Reply(redisReply* reply) : reply_(reply) {}
Reply::~Reply() {
  if (reply_ != nullptr) freeReplyObject(reply_);
}
Reply::Reply(Reply&& other) noexcept : reply_(other.reply_) { other.reply_ = nullptr; }
bool Reply::is_nil() const { return reply_->type == REDIS_REPLY_NIL; }
bool Reply::is_error() const { return reply_->type == REDIS_REPLY_ERROR; }
bool Reply::is_string() const { return reply_->type == REDIS_REPLY_STRING || reply_->type == REDIS_REPLY_STATUS; }
std::string_view Reply::str() const {
  return reply_->str != nullptr ? std::string_view(reply_->str, reply_->len) : std::string_view();
}
int64_t Reply::integer() const { return reply_->integer; }
size_t Reply::elements() const { return reply_->type == REDIS_REPLY_ARRAY ? reply_->elements : 0; }
std::optional<std::string_view> Reply::element_str(size_t i) const {
  if (reply_->type != REDIS_REPLY_ARRAY || i >= reply_->elements) return std::nullopt;
  const redisReply* e = reply_->element[i];
  if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS) return std::nullopt;
  return std::string_view(e->str, e->len);
}

Client::Client(const config::RedisConfig& cfg) : cfg_(cfg) { connect(); }

Client::~Client() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

std::string Client::describe() const {
  return cfg_.unix_socket.empty() ? fmt::format("{}:{}", cfg_.host, cfg_.port) : cfg_.unix_socket;
}

void Client::connect() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  const auto ms = cfg_.timeout.count();
  const timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  ctx_ = cfg_.unix_socket.empty() ? redisConnectWithTimeout(cfg_.host.c_str(), cfg_.port, tv)
                                  : redisConnectUnixWithTimeout(cfg_.unix_socket.c_str(), tv);
  if (ctx_ == nullptr) throw RedisError("redis " + describe() + ": cannot allocate a connection");
  if (ctx_->err != 0) {
    const std::string err = ctx_->errstr;
    redisFree(ctx_);
    ctx_ = nullptr;
    throw RedisError("redis " + describe() + ": " + err);
  }
  if (redisSetTimeout(ctx_, tv) != REDIS_OK) {
    const std::string err = ctx_->errstr;
    redisFree(ctx_);
    ctx_ = nullptr;
    throw RedisError("redis " + describe() + ": cannot set the socket timeout: " + err);
  }
}

namespace {
// False when hiredis could not queue the command (out of memory); ctx->errstr says why.
bool append(redisContext* ctx, const std::vector<std::string_view>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (auto a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  return redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), ptrs.data(), lens.data()) == REDIS_OK;
}
}  // namespace

std::vector<Reply> Client::pipeline(const std::vector<std::vector<std::string_view>>& commands) {
  for (int attempt = 0;; ++attempt) {
    if (ctx_ == nullptr) connect();
    bool broken = false;
    for (const auto& c : commands) {
      if (!append(ctx_, c)) {
        broken = true;
        break;
      }
    }
    std::vector<Reply> replies;
    replies.reserve(commands.size());
    for (size_t i = 0; !broken && i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
        broken = true;
        break;
      }
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    if (!broken) return replies;
    const std::string err = ctx_->errstr;
    redisFree(ctx_);
    ctx_ = nullptr;
    if (attempt >= 1) throw RedisError("redis " + describe() + ": " + err);
  }
}

Reply Client::command(const std::vector<std::string_view>& argv) {
  auto replies = pipeline({argv});
  if (replies.front().is_error()) {
    throw RedisError(fmt::format("redis {}: {}: {}", describe(), argv.empty() ? "" : argv[0], replies.front().str()));
  }
  return std::move(replies.front());
}

}  // namespace tierflow::redis
