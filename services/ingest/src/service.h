// The PosIngest gRPC service: validates, de-duplicates and writes events to Kafka, and
// acks each one. ACCEPTED is sent only after the broker confirmed the write; a copy
// arriving while the first copy is in flight gets the first's outcome (DUPLICATE when it
// was stored, RETRY when not). See deduper.h for the duplicate window.
//
// Threading: gRPC calls run on gRPC's threads and block while their events' duplicate
// check (one Redis round trip per call or stream message, bounded) and delivery reports
// are outstanding; delivery reports arrive on the producer's thread and are handed back
// to the call that waits for them. Every call shares the process's one redis::Mux.
// Errors: what an RPC throws is mapped once by grpcx::to_status (never UNKNOWN).
// Lifecycle: the producer and the mux must outlive the service.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/config/sections.h"
#include "common/grpc/auth.h"
#include "src/deduper.h"
#include "tierflow/v1/ingest.grpc.pb.h"

namespace prometheus {
class Registry;
class Counter;
class Histogram;
}  // namespace prometheus

namespace tierflow::kafka {
class Producer;
}
namespace tierflow::redis {
class Mux;
}

namespace tierflow::ingest {

struct Config : config::ServiceConfig {
  config::RedisConfig redis;
  Deduper::Options dedupe;      // dedupe.enabled, dedupe.window_s, dedupe.check_timeout_ms
};

Config load_config(const std::string& path);

class IngestService final : public v1::PosIngest::Service {
 public:
  // `mux` is the process's one Redis connection (the duplicate window).
  IngestService(const Config& cfg, kafka::Producer& producer, redis::Mux& mux, prometheus::Registry& registry);
  ~IngestService() override;

  grpc::Status StreamEvents(grpc::ServerContext* ctx,
                            grpc::ServerReaderWriter<v1::EventAck, v1::PosEvent>* stream) override;
  grpc::Status SubmitEvents(grpc::ServerContext* ctx, const v1::SubmitEventsRequest* req,
                            v1::SubmitEventsResponse* resp) override;
  grpc::Status UpsertCustomers(grpc::ServerContext* ctx, const v1::UpsertCustomersRequest* req,
                               v1::UpsertCustomersResponse* resp) override;

  struct Metrics;
  const Deduper& deduper() const { return *deduper_; }  // for tests

 private:
  class Call;
  // The RPC bodies; the overrides map what they throw with grpcx::guarded.
  // `caller`: who posts (grpcx::caller); a pos caller's events for other stores are REJECTED.
  grpc::Status submit_events(const v1::SubmitEventsRequest& req, v1::SubmitEventsResponse& resp,
                             const std::optional<grpcx::Caller>& caller);
  grpc::Status upsert_customers(const v1::UpsertCustomersRequest& req, v1::UpsertCustomersResponse& resp);
  const Config cfg_;
  kafka::Producer& producer_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Deduper> deduper_;
};

}  // namespace tierflow::ingest
