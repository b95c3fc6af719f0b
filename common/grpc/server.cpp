#include "common/grpc/server.h"

#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/grpc/auth.h"

namespace tierflow::grpcx {

namespace {

std::string read_pem(const std::string& path, const char* key) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  if (!in || s.str().empty()) throw std::runtime_error(fmt::format("tls.{}: cannot read '{}'", key, path));
  return s.str();
}

// "127.0.0.1:7001", "[::1]:0", "localhost:7001": the host part is a loopback address.
bool loopback_listen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::shared_ptr<grpc::ServerCredentials> credentials(const std::string& listen, ServiceAccess* access) {
  if (access == nullptr) return grpc::InsecureServerCredentials();
  std::shared_ptr<grpc::ServerCredentials> creds;
  const config::TlsConfig& tls = access->tls();
  if (tls.enabled()) {
    grpc::SslServerCredentialsOptions options(tls.client_ca_file.empty()
                                                  ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                  : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_key_cert_pairs.push_back({read_pem(tls.key_file, "key_file"), read_pem(tls.cert_file, "cert_file")});
    if (!tls.client_ca_file.empty()) options.pem_root_certs = read_pem(tls.client_ca_file, "client_ca_file");
    creds = grpc::SslServerCredentials(options);
  } else {
    if (!loopback_listen(listen)) {
      throw std::runtime_error(fmt::format(
          "grpc.listen '{}' is not a loopback address: without TLS the services listen on loopback only, since "
          "bearer tokens would cross the network in clear. Set tls.cert_file and tls.key_file, or listen on "
          "127.0.0.1",
          listen));
    }
    // Local credentials: plaintext like insecure ones (plaintext clients connect), but a
    // security connector, so the AuthMetadataProcessor runs; peers must be on loopback.
    creds = grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  }
  creds->SetAuthMetadataProcessor(access->access().processor());
  return creds;
}

}  // namespace

Server::Server(const std::string& listen, const std::vector<grpc::Service*>& services, ServiceAccess* access) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, credentials(listen, access), &port_);
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  for (grpc::Service* s : services) builder.RegisterService(s);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) throw std::runtime_error("grpc: cannot listen on " + listen);
  spdlog::info("grpc: listening on port {} ({})", port_,
               access == nullptr         ? "no access control"
               : access->tls().enabled() ? "TLS, tokens"
                                         : "loopback, tokens");
}

Server::~Server() { shutdown(std::chrono::seconds(5)); }

void Server::set_serving(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(serving);
}

void Server::shutdown(std::chrono::milliseconds grace) {
  if (down_ || !server_) return;
  down_ = true;
  set_serving(false);
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
}

}  // namespace tierflow::grpcx
