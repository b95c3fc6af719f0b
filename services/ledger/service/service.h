// The ledger's adapters: the Kafka consumer loop that feeds the domain core (exactly
// once: offsets live in the core's SQL transaction), the outbox relay to
// ledger.accounts.v1, the DLQ for rejected events, and the gRPC Ledger service.
//
// Threading: Runner::run drives the core on one thread; the gRPC service calls the core
// from gRPC's threads. Both go through SharedLedger, which serialises every call.
#pragma once

#include <absl/time/time.h>

#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include "common/config/sections.h"
#include "tierflow/ledger/ledger.hpp"
#include "tierflow/v1/ledger.grpc.pb.h"

namespace prometheus {
class Registry;
}
namespace tierflow::kafka {
class Producer;
}

namespace tierflow::ledger {

struct Config {
  config::KafkaConfig kafka;
  config::GrpcConfig grpc;
  config::MetricsConfig metrics;
  config::LogConfig log;
  config::AccessConfig access;  // auth.*, tls.*: who may call (common/grpc/auth.h)
  std::string store_backend = "sqlite";        // sqlite (one instance) | postgres (several)
  std::string store_path = "ledger.db";        // sqlite
  std::string store_postgres_url;              // postgres: libpq URL; secrets via TIERFLOW_STORE_POSTGRES_URL
  std::string group_id = "ledger";
  int max_batch = 20000;                       // records per SQL transaction
  absl::Duration deferred_max_wait = absl::Hours(24 * 7);
  std::string ready_file;
};

Config load_config(const std::string& path);

// Opens the configured store, with rejections kept in the outbox (the DLQ relay).
std::unique_ptr<Ledger> open_ledger(const Config& cfg);

// The core behind one mutex: the only way the adapters reach it.
class SharedLedger {
 public:
  explicit SharedLedger(std::unique_ptr<Ledger> ledger) : ledger_(std::move(ledger)) {}
  template <typename Fn>
  auto with(Fn&& fn) {
    std::lock_guard lock(mu_);
    return fn(*ledger_);
  }

 private:
  std::mutex mu_;
  std::unique_ptr<Ledger> ledger_;
};

class Runner {
 public:
  Runner(const Config& cfg, SharedLedger& ledger, kafka::Producer& producer, prometheus::Registry& registry);
  ~Runner();
  // Consumes pos.events.v1 until stop; relays the outbox after every batch. Throws on a
  // store failure (the process exits and resumes from the stored offsets on restart).
  void run(std::stop_token stop);

  struct Metrics;

 private:
  void relay_outbox();
  void count_rejections(const std::vector<Rejection>& rejected);
  const Config& cfg_;
  SharedLedger& ledger_;
  kafka::Producer& producer_;
  std::unique_ptr<Metrics> metrics_;
};

class LedgerService final : public v1::Ledger::Service {
 public:
  explicit LedgerService(SharedLedger& ledger) : ledger_(ledger) {}
  grpc::Status GetAccount(grpc::ServerContext*, const v1::GetAccountRequest*, v1::AccountSnapshot*) override;
  grpc::Status GetStatement(grpc::ServerContext*, const v1::GetStatementRequest*, v1::GetStatementResponse*) override;
  grpc::Status GetAgeing(grpc::ServerContext*, const v1::GetAgeingRequest*, v1::Ageing*) override;
  grpc::Status GetTrialBalance(grpc::ServerContext*, const v1::GetTrialBalanceRequest*, v1::TrialBalance*) override;

 private:
  SharedLedger& ledger_;
};

}  // namespace tierflow::ledger
