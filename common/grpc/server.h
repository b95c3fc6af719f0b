// gRPC server plumbing shared by the services: the health service (grpc.health.v1),
// server reflection, access control (bearer tokens and roles, TLS when configured; see
// auth.h and README.md here), a bound port reported back (port 0 in tests), and a bounded
// graceful shutdown.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace tierflow::grpcx {

class ServiceAccess;

class Server {
 public:
  // Starts serving `services` on `listen` ("host:port"). Throws std::runtime_error
  // naming the address when it cannot bind. The services must outlive the Server.
  //
  // With `access` (every service's main), every call but health and reflection is checked
  // against its tokens and method table; with TLS configured the listener is TLS (client
  // certificates required when a client CA is set), otherwise it takes loopback
  // connections only and a non-loopback `listen` is refused here (std::runtime_error).
  // `access` must outlive the Server. Without it (in-process tests only) the listener is
  // plaintext and open.
  Server(const std::string& listen, const std::vector<grpc::Service*>& services, ServiceAccess* access = nullptr);
  ~Server();  // shutdown(5 s) if not done yet
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  // Marks every service SERVING or NOT_SERVING in the health service.
  void set_serving(bool serving);
  // Stops taking new calls, lets running ones finish until the deadline, then cancels.
  void shutdown(std::chrono::milliseconds grace);

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool down_ = false;
};

}  // namespace tierflow::grpcx
