// The classification service's adapters: materialises accounts and profiles from Kafka,
// applies the standard (tierflow_classification_core), publishes changed assignments to
// tiers.assignments.v1 and Redis, and answers TierService over gRPC.
//
// Threading: Engine::run consumes and evaluates on one thread. gRPC calls read Redis
// (GetTier, BatchGetTiers) with a connection per gRPC thread, or the engine's state
// (Explain, List, Distribution, WhatIf, Reload) under the engine's shared lock.
#pragma once

#include <absl/time/time.h>

#include <memory>
#include <optional>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <unordered_map>

#include "common/config/sections.h"
#include "tierflow/classification/engine.h"
#include "tierflow/classification/standard.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace prometheus {
class Registry;
}
namespace tierflow::kafka {
class Producer;
}

namespace tierflow::classification {

struct Config {
  config::KafkaConfig kafka;
  config::RedisConfig redis;
  config::GrpcConfig grpc;
  config::MetricsConfig metrics;
  config::LogConfig log;
  std::string standard_path = "standard.yaml";
  // wall: now is the wall clock. watermark: now is the newest event time seen (replays
  // of history classify as of the end of the data).
  std::string clock = "wall";
  std::chrono::milliseconds reevaluate_interval{1000};
  std::string group_id = "classification";
  std::string ready_file;
};

Config load_config(const std::string& path);

// Redis layout: one hash per customer, readable with redis-cli:
//   HGETALL tf:tier:<customer>  -> tier, previous_tier, reason, version, standard, credit_hold, proto
inline std::string redis_key(std::string_view customer_id) { return "tf:tier:" + std::string(customer_id); }

class Engine {
 public:
  Engine(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry);
  ~Engine();

  // Consumes and evaluates until stop. Throws when Kafka or Redis setup fails.
  void run(std::stop_token stop);

  // For gRPC (any thread).
  std::optional<Evaluation> explain(const std::string& customer_id, v1::TierAssignment* current) const;
  v1::Distribution distribution() const;
  std::vector<v1::TierAssignment> list(const std::string& tier, const std::string& dimension,
                                       const std::string& class_name, const std::string& after, int limit,
                                       std::string* next) const;
  v1::WhatIfResponse what_if(const Standard& candidate) const;
  // Loads the standard file again; a bad file throws StandardError and changes nothing.
  v1::ReloadStandardResponse reload();

  struct Metrics;

 private:
  struct Customer {
    std::optional<v1::AccountSnapshot> account;
    std::optional<v1::CustomerProfile> profile;
    std::optional<v1::TierAssignment> current;
    Features features;
  };
  CustomerInputs inputs(const std::string& id, const Customer& c) const;
  absl::Time now() const;
  // Recomputes features and the population, evaluates everyone, publishes what changed.
  // Caller holds the unique lock.
  size_t evaluate_all();
  void publish(const std::vector<const v1::TierAssignment*>& changed);
  void refill_redis_if_lost();

  const Config& cfg_;
  kafka::Producer& producer_;
  std::unique_ptr<Metrics> metrics_;
  mutable std::shared_mutex mu_;
  std::shared_ptr<const Standard> standard_;
  Population population_;
  std::unordered_map<std::string, Customer> customers_;
  absl::Time watermark_ = absl::InfinitePast();
  std::unique_ptr<class RedisWriter> redis_;
};

class TierService final : public v1::TierService::Service {
 public:
  TierService(const Config& cfg, Engine& engine) : cfg_(cfg), engine_(engine) {}
  grpc::Status GetTier(grpc::ServerContext*, const v1::GetTierRequest*, v1::TierAssignment*) override;
  grpc::Status BatchGetTiers(grpc::ServerContext*, const v1::BatchGetTiersRequest*, v1::BatchGetTiersResponse*) override;
  grpc::Status ExplainTier(grpc::ServerContext*, const v1::ExplainTierRequest*, v1::Explanation*) override;
  grpc::Status ListCustomers(grpc::ServerContext*, const v1::ListCustomersRequest*, v1::ListCustomersResponse*) override;
  grpc::Status GetDistribution(grpc::ServerContext*, const v1::GetDistributionRequest*, v1::Distribution*) override;
  grpc::Status ReloadStandard(grpc::ServerContext*, const v1::ReloadStandardRequest*, v1::ReloadStandardResponse*) override;
  grpc::Status WhatIf(grpc::ServerContext*, const v1::WhatIfRequest*, v1::WhatIfResponse*) override;
  // GetTierHistory, WatchTierChanges, SetOverride, ClearOverride: UNIMPLEMENTED until the
  // classification issue lands them.

 private:
  const Config& cfg_;
  Engine& engine_;
};

}  // namespace tierflow::classification
