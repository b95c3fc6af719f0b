#include "common/runtime/service.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <thread>

#include "common/grpc/server.h"
#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "common/runtime/ready_file.h"
#include "common/runtime/stop.h"

namespace tierflow::runtime {

void run_service(StopSignals& stop, grpcx::Server& server, metrics::Server& metrics, kafka::Producer& producer,
                 const std::string& ready_file, const std::function<void(std::stop_token)>& worker,
                 const std::function<void()>& before_drain) {
  std::exception_ptr failure;
  std::jthread worker_thread;
  if (worker) {
    worker_thread = std::jthread([&](std::stop_token) {
      try {
        worker(stop.token());
      } catch (...) {
        failure = std::current_exception();
        stop.request_stop();
      }
    });
  }
  write_ready_file(ready_file, {{"grpc", server.port()}, {"metrics", metrics.port()}});
  spdlog::info("ready: grpc port {}, metrics port {}", server.port(), metrics.port());
  while (!stop.wait_for(std::chrono::seconds(1))) {
  }
  if (before_drain) before_drain();
  spdlog::info("shutdown: draining gRPC calls");
  server.shutdown(std::chrono::seconds(10));
  if (worker_thread.joinable()) {
    spdlog::info("shutdown: stopping the consumer");
    worker_thread.join();
  }
  spdlog::info("shutdown: flushing the producer");
  if (!producer.flush(std::chrono::seconds(10))) spdlog::warn("shutdown: producer not flushed within 10 s");
  if (failure) std::rethrow_exception(failure);
}

}  // namespace tierflow::runtime
