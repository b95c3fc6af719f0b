#include "common/grpc/auth.h"

#include <absl/time/time.h>
#include <fmt/format.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/server_context.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

namespace tierflow::grpcx {

namespace {

constexpr std::string_view kRoles[] = {"pos", "crm", "call-center", "campaign", "finance", "admin"};

std::atomic<Access*> g_process_access{nullptr};

bool is_hex64(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string_view role_name(Role role) { return kRoles[static_cast<int>(role)]; }

std::optional<Role> parse_role(std::string_view name) {
  for (size_t i = 0; i < std::size(kRoles); ++i) {
    if (kRoles[i] == name) return static_cast<Role>(i);
  }
  return std::nullopt;
}

bool Caller::may_post_for_store(std::string_view store_id) const {
  if (role != Role::kPos) return true;
  return std::any_of(stores.begin(), stores.end(), [&](const std::string& s) { return s == "*" || s == store_id; });
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) out += fmt::format("{:02x}", b);
  return out;
}

// ---------------------------------------------------------------------------------------
// Parsing the tokens file.

std::vector<TokenEntry> parse_tokens(std::string_view text, const std::string& file) {
  auto fail = [&](const YAML::Node& at, const std::string& field, const std::string& what) -> TokensError {
    return TokensError(fmt::format("{}:{}: {}: {}", file, at.Mark().line + 1, field, what));
  };
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw TokensError(fmt::format("{}:{}: not YAML: {}", file, e.mark.line + 1, e.msg));
  }
  if (!doc.IsMap() || !doc["tokens"])
    throw TokensError(fmt::format("{}:1: tokens: expected a top-level 'tokens:' list", file));
  for (const auto& kv : doc) {
    if (kv.first.as<std::string>() != "tokens") throw fail(kv.first, kv.first.as<std::string>(), "unknown key");
  }
  const YAML::Node list = doc["tokens"];
  if (!list.IsSequence()) throw fail(list, "tokens", "expected a list of entries");
  std::vector<TokenEntry> out;
  std::set<std::string> names, hashes;
  size_t index = 0;
  for (const YAML::Node& n : list) {
    const std::string where = fmt::format("tokens[{}]", index++);
    if (!n.IsMap()) throw fail(n, where, "expected a mapping with name, role, sha256");
    TokenEntry e;
    auto scalar = [&](const char* key, bool required) -> std::optional<std::string> {
      const YAML::Node v = n[key];
      if (!v) {
        if (required) throw fail(n, where + "." + key, "missing");
        return std::nullopt;
      }
      if (!v.IsScalar()) throw fail(v, where + "." + key, "expected a single value");
      return v.as<std::string>();
    };
    for (const auto& kv : n) {
      const auto key = kv.first.as<std::string>();
      if (key != "name" && key != "role" && key != "sha256" && key != "stores" && key != "expires") {
        throw fail(kv.first, where + "." + key, "unknown key (allowed: name, role, sha256, stores, expires)");
      }
    }
    e.caller.name = *scalar("name", true);
    if (e.caller.name.empty()) throw fail(n["name"], where + ".name", "empty");
    if (!names.insert(e.caller.name).second)
      throw fail(n["name"], where + ".name", "'" + e.caller.name + "' appears twice");
    const std::string role = *scalar("role", true);
    const auto parsed = parse_role(role);
    if (!parsed)
      throw fail(n["role"], where + ".role",
                 "'" + role + "' is not one of pos, crm, call-center, campaign, finance, admin");
    e.caller.role = *parsed;
    e.sha256 = lower(*scalar("sha256", true));
    if (!is_hex64(e.sha256))
      throw fail(n["sha256"], where + ".sha256", "expected 64 hex digits (the SHA-256 of the token, not the token)");
    if (!hashes.insert(e.sha256).second)
      throw fail(n["sha256"], where + ".sha256", "the same token as an earlier entry");
    if (const YAML::Node s = n["stores"]) {
      if (e.caller.role != Role::kPos) throw fail(s, where + ".stores", "only pos tokens have stores");
      if (!s.IsSequence() || s.size() == 0) throw fail(s, where + ".stores", "expected a non-empty list of store ids");
      for (const auto& id : s) {
        if (!id.IsScalar() || id.as<std::string>().empty()) throw fail(id, where + ".stores", "expected store ids");
        e.caller.stores.push_back(id.as<std::string>());
      }
    } else if (e.caller.role == Role::kPos) {
      throw fail(n, where + ".stores", "missing: a pos token lists the store ids it may post for (\"*\" for any)");
    }
    if (const auto expires = scalar("expires", false)) {
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, *expires, &t, &err)) {
        throw fail(n["expires"], where + ".expires",
                   "'" + *expires + "' is not an RFC 3339 time (2027-01-31T00:00:00Z)");
      }
      e.expires = absl::ToChronoTime(t);
    }
    out.push_back(std::move(e));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// TokenStore

struct TokenStore::Snapshot {
  struct Entry {
    std::shared_ptr<const Caller> caller;
    std::array<unsigned char, 32> digest;
    std::optional<std::chrono::system_clock::time_point> expires;
  };
  // Keyed by the hex digest: the lookup's timing depends on the token's hash only, which
  // tells an attacker nothing about other tokens; the final match is CRYPTO_memcmp.
  std::unordered_map<std::string, Entry> by_hash;
};

namespace {

std::array<unsigned char, 32> unhex(const std::string& hex) {
  std::array<unsigned char, 32> out{};
  for (size_t i = 0; i < 32; ++i) out[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

}  // namespace

std::shared_ptr<const TokenStore::Snapshot> TokenStore::load(const std::string& file, FileStamp* stamp) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    throw TokensError(fmt::format("{}: cannot read the tokens file: {}", file, std::strerror(errno)));
  *stamp = FileStamp{static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                     static_cast<int64_t>(st.st_size), static_cast<uint64_t>(st.st_ino)};
  std::ifstream in(file, std::ios::binary);
  if (!in) throw TokensError(fmt::format("{}: cannot open the tokens file", file));
  std::stringstream text;
  text << in.rdbuf();
  auto snap = std::make_shared<Snapshot>();
  for (TokenEntry& e : parse_tokens(text.str(), file)) {
    Snapshot::Entry entry{std::make_shared<const Caller>(std::move(e.caller)), unhex(e.sha256), e.expires};
    snap->by_hash.emplace(e.sha256, std::move(entry));
  }
  return snap;
}

TokenStore::TokenStore(std::string file, std::chrono::milliseconds check_interval) : file_(std::move(file)) {
  snapshot_ = load(file_, &stamp_);
  spdlog::info("auth: {} tokens from {}", snapshot_->by_hash.size(), file_);
  if (check_interval.count() > 0) {
    watcher_ = std::jthread([this, check_interval](std::stop_token stop) {
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      while (!stop.stop_requested()) {
        cv.wait_for(lock, stop, check_interval, [] { return false; });
        if (!stop.stop_requested()) reload_if_changed();
      }
    });
  }
}

TokenStore::~TokenStore() = default;  // the jthread requests stop and joins

std::shared_ptr<const TokenStore::Snapshot> TokenStore::current() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

size_t TokenStore::size() const { return current()->by_hash.size(); }

bool TokenStore::reload_if_changed() {
  std::lock_guard reload(reload_mu_);
  struct stat st {};
  FileStamp now;
  if (::stat(file_.c_str(), &st) == 0) {
    now = FileStamp{static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                    static_cast<int64_t>(st.st_size), static_cast<uint64_t>(st.st_ino)};
  }
  if (now == stamp_ || now == bad_stamp_) return false;
  try {
    FileStamp loaded;
    auto snap = load(file_, &loaded);
    const size_t n = snap->by_hash.size();
    {
      std::lock_guard lock(mu_);
      snapshot_ = std::move(snap);
    }
    stamp_ = loaded;
    bad_stamp_ = FileStamp{};
    spdlog::info("auth: reloaded {} tokens from {}", n, file_);
    return true;
  } catch (const std::exception& e) {
    bad_stamp_ = now;  // log a bad version once, not every check
    spdlog::error("auth: keeping the previous tokens: {}", e.what());
    return false;
  }
}

TokenStore::Lookup TokenStore::find(std::string_view token, std::chrono::system_clock::time_point now) const {
  const auto snap = current();
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  std::string hex;
  hex.reserve(64);
  for (unsigned char b : digest) hex += fmt::format("{:02x}", b);
  const auto it = snap->by_hash.find(hex);
  if (it == snap->by_hash.end() || CRYPTO_memcmp(it->second.digest.data(), digest, sizeof digest) != 0) {
    return {};
  }
  if (it->second.expires && now >= *it->second.expires) return {Verdict::kExpired, it->second.caller};
  return {Verdict::kOk, it->second.caller};
}

// ---------------------------------------------------------------------------------------
// Access

namespace {

// "Bearer <token>" (scheme case-insensitive); nullopt for anything else.
std::optional<std::string_view> bearer(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\r' || token.back() == '\n'))
    token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

// The processor gRPC calls for every call on a secure listener, before any handler (sync
// or callback) sees it. Non-blocking: the check is a hash and a map lookup, so it runs
// inline on gRPC's thread rather than on the wrapper's extra thread pool.
class Processor final : public grpc::AuthMetadataProcessor {
 public:
  explicit Processor(Access& access) : access_(access) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& md, grpc::AuthContext*, OutputMetadata*, OutputMetadata*) override {
    std::string_view path;
    if (auto it = md.find(":path"); it != md.end()) path = std::string_view(it->second.data(), it->second.size());
    std::optional<std::string_view> authorization;
    if (auto it = md.find("authorization"); it != md.end()) {
      authorization = std::string_view(it->second.data(), it->second.size());
    }
    Access::Decision d = access_.check(path, authorization, std::chrono::system_clock::now());
    if (d.code == 0) return grpc::Status::OK;
    return grpc::Status(static_cast<grpc::StatusCode>(d.code), d.message);
  }

 private:
  Access& access_;
};

}  // namespace

Access::Access(TokenStore& tokens, MethodRoles table, const config::AuthConfig& cfg, prometheus::Registry* registry)
    : tokens_(tokens), table_(std::move(table)), cfg_(cfg) {
  if (registry != nullptr) {
    failures_ = &prometheus::BuildCounter()
                     .Name("tierflow_grpc_auth_failures_total")
                     .Help("gRPC calls refused by access control, by reason, method and the caller's role")
                     .Register(*registry);
  }
}

Access::~Access() {
  Access* self = this;
  g_process_access.compare_exchange_strong(self, nullptr);
}

bool Access::is_open(std::string_view path) {
  return path.starts_with("/grpc.health.v1.Health/") ||
         path.starts_with("/grpc.reflection.v1alpha.ServerReflection/") ||
         path.starts_with("/grpc.reflection.v1.ServerReflection/");
}

void Access::refuse(Decision& d, int code, std::string reason, std::string_view path, std::string message) {
  d.code = code;
  d.reason = std::move(reason);
  d.message = std::move(message);
  const std::string role = d.caller ? std::string(role_name(d.caller->role)) : std::string("none");
  const std::string method = path.empty() ? "unknown" : std::string(path);
  if (failures_ != nullptr) failures_->Add({{"reason", d.reason}, {"method", method}, {"role", role}}).Increment();
  // At most one line per (reason, method) and minute: a misconfigured till retrying in a
  // loop must not flood the log. Names the token's name, never the token.
  const int64_t minute =
      std::chrono::duration_cast<std::chrono::minutes>(std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t suppressed = 0;
  {
    std::lock_guard lock(log_mu_);
    LogState& s = logged_[{d.reason, method}];
    if (s.minute == minute) {
      ++s.suppressed;
      return;
    }
    suppressed = s.suppressed;
    s = LogState{minute, 0};
  }
  spdlog::warn("auth: refused {} ({}): {}{}", method, d.reason, d.message,
               suppressed > 0 ? fmt::format(" ({} more like it in the previous minute)", suppressed) : "");
}

bool Access::take_rate(const Caller& caller, std::chrono::steady_clock::time_point now) {
  if (caller.role != Role::kPos || cfg_.pos_calls_per_s <= 0) return true;
  std::lock_guard lock(rate_mu_);
  auto it = buckets_.find(caller.name);
  if (it == buckets_.end()) it = buckets_.emplace(caller.name, Bucket{cfg_.pos_burst, now}).first;
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.at).count();
  b.tokens = std::min(cfg_.pos_burst, b.tokens + elapsed * cfg_.pos_calls_per_s);
  b.at = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

Access::Decision Access::check(std::string_view path, std::optional<std::string_view> authorization,
                               std::chrono::system_clock::time_point now) {
  Decision d;
  if (is_open(path)) return d;
  constexpr int kUnauthenticated = 16, kPermissionDenied = 7, kResourceExhausted = 8;
  if (!authorization) {
    refuse(d, kUnauthenticated, "missing_token", path, "missing 'authorization: Bearer <token>' metadata");
    return d;
  }
  const auto token = bearer(*authorization);
  if (!token) {
    refuse(d, kUnauthenticated, "missing_token", path, "the authorization metadata is not 'Bearer <token>'");
    return d;
  }
  const TokenStore::Lookup found = tokens_.find(*token, now);
  d.caller = found.caller;
  if (found.verdict == TokenStore::Verdict::kUnknown) {
    refuse(d, kUnauthenticated, "unknown_token", path, "unknown token");
    return d;
  }
  if (found.verdict == TokenStore::Verdict::kExpired) {
    refuse(d, kUnauthenticated, "expired_token", path, fmt::format("token '{}' has expired", found.caller->name));
    return d;
  }
  const Caller& c = *found.caller;
  if (c.role != Role::kAdmin) {
    const auto it = table_.find(path);
    const bool allowed =
        it != table_.end() && std::find(it->second.begin(), it->second.end(), c.role) != it->second.end();
    if (!allowed) {
      refuse(d, kPermissionDenied, "wrong_role", path,
             fmt::format("role {} (token '{}') may not call {}", role_name(c.role), c.name, path));
      return d;
    }
  }
  if (!take_rate(c, std::chrono::steady_clock::now())) {
    refuse(
        d, kResourceExhausted, "rate_limited", path,
        fmt::format("token '{}' is over its limit of {} calls/s; slow down and retry", c.name, cfg_.pos_calls_per_s));
    return d;
  }
  return d;
}

Caller Access::caller_of(const grpc::ServerContextBase& ctx) const {
  const auto& md = ctx.client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    if (auto token = bearer(std::string_view(it->second.data(), it->second.size()))) {
      const auto found = tokens_.find(*token, std::chrono::system_clock::now());
      if (found.verdict == TokenStore::Verdict::kOk) return *found.caller;
    }
  }
  return Caller{"unresolved", Role::kPos, {}};
}

std::shared_ptr<grpc::AuthMetadataProcessor> Access::processor() { return std::make_shared<Processor>(*this); }

std::optional<Caller> caller(const grpc::ServerContextBase& ctx) {
  Access* access = g_process_access.load();
  if (access == nullptr) return std::nullopt;
  return access->caller_of(ctx);
}

// ---------------------------------------------------------------------------------------
// ServiceAccess

ServiceAccess::ServiceAccess(const config::AccessConfig& cfg, MethodRoles table, prometheus::Registry& registry)
    : tls_(cfg.tls) {
  if (cfg.auth.tokens_file.empty()) {
    throw config::ConfigError(
        "key 'auth.tokens_file' (env TIERFLOW_AUTH_TOKENS_FILE): set it to the tokens file; every gRPC call needs a "
        "token (deploy/local/stack.sh generates local ones; README.md, Access)");
  }
  tokens_ = std::make_unique<TokenStore>(cfg.auth.tokens_file, cfg.auth.reload_check);
  access_ = std::make_unique<Access>(*tokens_, std::move(table), cfg.auth, &registry);
  g_process_access.store(access_.get());
}

ServiceAccess::~ServiceAccess() = default;

}  // namespace tierflow::grpcx
