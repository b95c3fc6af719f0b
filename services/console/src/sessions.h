// Console sessions: who logged in with which token, behind an opaque cookie value.
//
// A session holds the user's token (in memory only, never logged or written anywhere) so
// the console calls the backends as that user, the role and name the tokens file gave it,
// a CSRF token for its changes, and the channels to the backends made with the token.
// Sessions end at logout, after `idle` without use, or when the token stops resolving
// (rotated away or expired: checked on every use).
//
// Threading: thread-safe (one mutex; lookups copy a shared_ptr).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/grpc/auth.h"

namespace grpc {
class Channel;
}

namespace tierflow::console {

struct Session {
  std::string id;        // the cookie value: 32 random bytes, hex
  std::string csrf;      // 32 random bytes, hex: X-CSRF-Token of every change
  std::string token;     // the user's bearer token; never logged
  grpcx::Caller caller;  // name and role from the tokens file
  std::shared_ptr<grpc::Channel> classification, ledger, notification;
};

class Sessions {
 public:
  Sessions(grpcx::TokenStore& tokens, std::chrono::minutes idle) : tokens_(tokens), idle_(idle) {}

  enum class Refusal { kNone, kUnknown, kExpired, kRole };
  // Checks `token` against the tokens file; a role other than call-center, finance or
  // admin is refused. On success `make` fills the channels, and the new session is kept.
  std::shared_ptr<const Session> login(const std::string& token, Refusal* refusal,
                                       const std::function<void(Session&)>& make);
  // The live session with this id (its idle time restarts), or null.
  std::shared_ptr<const Session> find(const std::string& id);
  void logout(const std::string& id);
  size_t size() const;

  static std::string random_hex(size_t bytes);

 private:
  struct Entry {
    std::shared_ptr<const Session> session;
    std::chrono::steady_clock::time_point used;
  };
  grpcx::TokenStore& tokens_;
  const std::chrono::minutes idle_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> sessions_;
};

}  // namespace tierflow::console
