// The client side of access control, for the suite's tools and tests: a channel that
// sends `authorization: Bearer <token>` on every call (a client interceptor, so every
// stub and every ClientContext on it carries the token without further code), over TLS
// when a CA is given, and where a client finds its token.
//
// Threading: the channel is thread-safe like any grpc::Channel; the functions are
// stateless.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace grpc {
class Channel;
}

namespace tierflow::grpcx {

struct ClientOptions {
  std::string token;          // "" sends no authorization (health and reflection need none)
  std::string tls_ca_file;    // set: TLS, the server verified against this CA (PEM)
  std::string tls_cert_file;  // with tls_key_file: a client certificate (servers with tls.client_ca_file)
  std::string tls_key_file;
  std::string tls_server_name;  // overrides the name checked in the server's certificate
};

// Throws std::runtime_error naming a TLS file it cannot read.
std::shared_ptr<grpc::Channel> make_channel(const std::string& target, const ClientOptions& options);

// The first line of a token file, trimmed. Throws std::runtime_error naming the file when
// it is missing or empty. Never logs or returns the token in an error.
std::string read_token_file(const std::string& path);

// Where a client finds its token for `role` when no --token-file is given: the file in
// env `env_var` (e.g. TIERFLOW_TOKEN_FILE) if set, else <dir>/<role>.token where dir is
// $TIERFLOW_TOKENS_DIR or ".run/tokens" (what `make run` generates), if that file exists;
// "" when there is none.
std::string default_token_file(std::string_view role, const char* env_var = "TIERFLOW_TOKEN_FILE");

}  // namespace tierflow::grpcx
