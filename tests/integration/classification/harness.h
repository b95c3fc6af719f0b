// What the classification integration tests share: real Redis and devbroker as child
// processes, and the classification TierKeeper + TierService running in-process, stoppable and
// restartable on the same store (a restart of the service).
#pragma once

#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "service/tier_keeper.h"
#include "service/tier_service.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace tierflow::classification::it {

// One running service instance: producer, keeper (its consumer thread) and gRPC server.
// Destruction is the graceful shutdown main.cpp does.
class Instance {
 public:
  explicit Instance(const Config& cfg)
      : registry_(std::make_shared<prometheus::Registry>()),
        producer_(cfg.kafka.bootstrap_servers, "classification-it", cfg.kafka.properties),
        keeper_(cfg, producer_, *registry_),
        service_(cfg, keeper_),
        server_("127.0.0.1:0", {&service_}) {
    thread_ = std::jthread([this](std::stop_token stop) {
      try {
        keeper_.run(stop);
      } catch (const std::exception& e) {
        failure_ = e.what();
      }
    });
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_.port()), grpc::InsecureChannelCredentials());
    stub_ = v1::TierService::NewStub(channel_);
  }
  ~Instance() {
    keeper_.close_watchers();
    server_.shutdown(std::chrono::seconds(2));
    thread_.request_stop();
    thread_.join();
    producer_.flush(std::chrono::seconds(5));
  }

  v1::TierService::Stub& stub() { return *stub_; }
  TierKeeper& keeper() { return keeper_; }
  const std::string& failure() const { return failure_; }

  // Value of an unlabelled counter or gauge of this instance's registry (0 when absent).
  double metric(const std::string& name) const {
    for (const auto& family : registry_->Collect()) {
      if (family.name != name || family.metric.empty()) continue;
      const auto& m = family.metric.front();
      return family.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
    return 0;
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  kafka::RdkafkaProducer producer_;
  TierKeeper keeper_;
  TierService service_;
  grpcx::Server server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TierService::Stub> stub_;
  std::string failure_;
  std::jthread thread_;
};

inline std::unique_ptr<grpc::ClientContext> call_ctx(std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + deadline);
  return c;
}

// Polls `ok` until it holds or `timeout` passes; true when it held.
inline bool eventually(const std::function<bool()>& ok, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < give_up) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ok();
}

// A config for an instance against these servers; the caller sets standard and clock.
inline Config base_config(const test_support::DevBroker& broker, const test_support::RedisServer& redis,
                          const std::string& dir) {
  Config cfg;
  cfg.kafka.bootstrap_servers = broker.bootstrap();
  cfg.kafka.client_id = "classification-it";
  cfg.kafka.session_timeout = std::chrono::milliseconds(6000);
  cfg.kafka.partitions = broker.partitions();
  cfg.redis = redis.config();
  cfg.store_path = dir + "/classification.db";
  cfg.standard_path = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
  cfg.clock = "events";
  cfg.evaluation_points = "newest_event";  // these scenarios write no ledger watermarks
  cfg.reevaluate_interval = std::chrono::milliseconds(500);
  cfg.evaluate_delay = std::chrono::milliseconds(200);
  cfg.group_id = "classification-it";
  return cfg;
}

}  // namespace tierflow::classification::it
