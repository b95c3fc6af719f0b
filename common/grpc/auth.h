// Access control for every gRPC service of the suite: bearer tokens from a file of hashes,
// roles, a method -> roles table per service, and the one check that enforces it (a
// grpc::AuthMetadataProcessor installed by grpcx::Server; why that and not an interceptor:
// common/grpc/README.md).
//
// The tokens file (YAML; path from auth.tokens_file / TIERFLOW_AUTH_TOKENS_FILE):
//   tokens:
//     - name: till-0042            # safe to log; the rate limit and logs use it
//       role: pos                  # pos, crm, call-center, campaign, finance, admin
//       sha256: 9f86d0...          # hex SHA-256 of the token; the token itself is never stored
//       stores: [s-0042]           # pos only, required: the store ids it may post for ("*": any)
//       expires: 2027-01-01T00:00:00Z   # optional, RFC 3339
// A call presents `authorization: Bearer <token>`. The file is re-read when its mtime, size
// or inode changes (checked every auth.reload_check_ms on a thread of its own); a bad file
// keeps the previous tokens and logs the file, line and field. Tokens never reach a log line.
//
// Threading: TokenStore and Access are thread-safe; lookups take a short lock to copy a
// shared_ptr to the current snapshot, the reload builds a new snapshot off to the side.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/config/sections.h"

namespace grpc {
class AuthMetadataProcessor;
class ServerContextBase;
}  // namespace grpc
namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
}  // namespace prometheus

namespace tierflow::grpcx {

enum class Role { kPos, kCrm, kCallCenter, kCampaign, kFinance, kAdmin };
std::string_view role_name(Role role);  // "call-center"
std::optional<Role> parse_role(std::string_view name);

// Who is calling, as the tokens file describes the presented token.
struct Caller {
  std::string name;  // the token's name, never the token
  Role role = Role::kPos;
  std::vector<std::string> stores;  // pos: the store ids it may post for; "*" = any
  // Whether this caller may post events for `store_id`: every role but pos may (the
  // method table already decided whether it may post at all); pos only for its stores.
  bool may_post_for_store(std::string_view store_id) const;
};

// Lower-case hex SHA-256, as the tokens file stores a token.
std::string sha256_hex(std::string_view data);

// A bad tokens file: the message names the file, the line and the field.
class TokensError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TokenEntry {
  Caller caller;
  std::string sha256;  // 64 lower-case hex digits
  std::optional<std::chrono::system_clock::time_point> expires;
};

// Parses a tokens file's text; `file` only names it in errors. Throws TokensError.
std::vector<TokenEntry> parse_tokens(std::string_view text, const std::string& file);

class TokenStore {
 public:
  enum class Verdict { kOk, kUnknown, kExpired };
  struct Lookup {
    Verdict verdict = Verdict::kUnknown;
    std::shared_ptr<const Caller> caller;  // set for kOk and kExpired
  };

  // Loads `file` now: throws TokensError when it is missing or bad (a service must not
  // start without its tokens). With check_interval > 0 a thread re-checks the file that
  // often; 0: only reload_if_changed() does (tests).
  TokenStore(std::string file, std::chrono::milliseconds check_interval);
  ~TokenStore();  // stops the watcher
  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  // The entry whose hash matches the token's (final comparison in constant time).
  Lookup find(std::string_view token, std::chrono::system_clock::time_point now) const;
  // Re-reads the file if its mtime, size or inode changed. True when a new set of tokens
  // was installed; false when unchanged or bad (then logged, the previous set kept).
  // Never throws.
  bool reload_if_changed();
  size_t size() const;
  const std::string& file() const { return file_; }

 private:
  struct Snapshot;
  struct FileStamp {
    int64_t mtime_ns = -1, size = -1;
    uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  static std::shared_ptr<const Snapshot> load(const std::string& file, FileStamp* stamp);
  std::shared_ptr<const Snapshot> current() const;

  std::string file_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;  // guarded by mu_
  FileStamp stamp_;                           // guarded by reload_mu_
  FileStamp bad_stamp_;                       // the last bad version, logged once; reload_mu_
  std::mutex reload_mu_;
  std::jthread watcher_;
};

// Method full name ("/tierflow.v1.Ledger/GetAccount") -> the roles that may call it.
// admin may call everything and need not be listed. A method not in the table is denied
// to every other role.
using MethodRoles = std::map<std::string, std::vector<Role>, std::less<>>;

// The check itself, independent of gRPC's plumbing so tests can drive it directly.
class Access {
 public:
  struct Decision {
    int code = 0;         // a grpc::StatusCode: OK, UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED
    std::string reason;   // "" when OK; missing_token, unknown_token, expired_token, wrong_role, rate_limited
    std::string message;  // what the caller is told; never the token
    std::shared_ptr<const Caller> caller;
  };

  // `registry` may be null (no metrics). The store must outlive the Access.
  Access(TokenStore& tokens, MethodRoles table, const config::AuthConfig& cfg, prometheus::Registry* registry);
  ~Access();

  // health and reflection: no token needed.
  static bool is_open(std::string_view path);
  // `authorization` is the header's value, nullopt when absent. Counts and (rate-limited)
  // logs every refusal.
  Decision check(std::string_view path, std::optional<std::string_view> authorization,
                 std::chrono::system_clock::time_point now);
  // The caller of a call this Access let through (from its authorization metadata).
  // A token that stopped resolving since (rotated away mid-call) yields a pos caller
  // with no stores: it may post for no store.
  Caller caller_of(const grpc::ServerContextBase& ctx) const;

  std::shared_ptr<grpc::AuthMetadataProcessor> processor();

 private:
  void refuse(Decision& d, int code, std::string reason, std::string_view path, std::string message);
  bool take_rate(const Caller& caller, std::chrono::steady_clock::time_point now);

  TokenStore& tokens_;
  MethodRoles table_;
  config::AuthConfig cfg_;
  prometheus::Family<prometheus::Counter>* failures_ = nullptr;

  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex rate_mu_;
  std::map<std::string, Bucket, std::less<>> buckets_;  // by token name

  struct LogState {
    int64_t minute = -1;
    int64_t suppressed = 0;
  };
  std::mutex log_mu_;
  std::map<std::pair<std::string, std::string>, LogState> logged_;  // (reason, method)
};

// What main wires in two lines: the token store (watching its file), the Access for the
// service's table, counted on `registry`, installed as the process's access for caller().
// Throws (naming the key and its env variable) when auth.tokens_file is not set.
class ServiceAccess {
 public:
  ServiceAccess(const config::AccessConfig& cfg, MethodRoles table, prometheus::Registry& registry);
  ~ServiceAccess();
  Access& access() { return *access_; }
  const config::TlsConfig& tls() const { return tls_; }

 private:
  config::TlsConfig tls_;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<Access> access_;
};

// The caller of the current call, for handlers that need more than the method table
// (ingest: a pos token posts for its own stores only). nullopt when this process runs no
// access control (a server built without ServiceAccess: in-process tests).
std::optional<Caller> caller(const grpc::ServerContextBase& ctx);

}  // namespace tierflow::grpcx
