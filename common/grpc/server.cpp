#include "common/grpc/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace tierflow::grpcx {

Server::Server(const std::string& listen, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port_);
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  for (grpc::Service* s : services) builder.RegisterService(s);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) throw std::runtime_error("grpc: cannot listen on " + listen);
  spdlog::info("grpc: listening on port {}", port_);
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
