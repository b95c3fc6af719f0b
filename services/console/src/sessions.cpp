#include "src/sessions.h"

#include <openssl/rand.h>

#include <stdexcept>

namespace tierflow::console {

std::string Sessions::random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("no random bytes from OpenSSL for a session id");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::shared_ptr<const Session> Sessions::login(const std::string& token, Refusal* refusal,
                                               const std::function<void(Session&)>& make) {
  const auto found = tokens_.find(token, std::chrono::system_clock::now());
  if (found.verdict != grpcx::TokenStore::Verdict::kOk) {
    *refusal = found.verdict == grpcx::TokenStore::Verdict::kExpired ? Refusal::kExpired : Refusal::kUnknown;
    return nullptr;
  }
  const grpcx::Role role = found.caller->role;
  if (role != grpcx::Role::kCallCenter && role != grpcx::Role::kFinance && role != grpcx::Role::kAdmin) {
    *refusal = Refusal::kRole;
    return nullptr;
  }
  auto s = std::make_shared<Session>();
  s->id = random_hex(32);
  s->csrf = random_hex(32);
  s->token = token;
  s->caller = *found.caller;
  make(*s);
  *refusal = Refusal::kNone;
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(sessions_, [&](const auto& kv) { return now - kv.second.used > idle_; });
  sessions_[s->id] = Entry{s, now};
  return s;
}

std::shared_ptr<const Session> Sessions::find(const std::string& id) {
  std::shared_ptr<const Session> s;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return nullptr;
    const auto now = std::chrono::steady_clock::now();
    if (now - it->second.used > idle_) {
      sessions_.erase(it);
      return nullptr;
    }
    it->second.used = now;
    s = it->second.session;
  }
  // A token rotated away or expired since login ends the session.
  if (tokens_.find(s->token, std::chrono::system_clock::now()).verdict != grpcx::TokenStore::Verdict::kOk) {
    logout(id);
    return nullptr;
  }
  return s;
}

void Sessions::logout(const std::string& id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
}

size_t Sessions::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace tierflow::console
