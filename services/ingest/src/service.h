// The PosIngest gRPC service: validates, de-duplicates and writes events to Kafka, and
// acks each one. ACCEPTED is sent only after the broker confirmed the write.
//
// Threading: gRPC calls run on gRPC's threads, each with its own Redis connection for
// the duplicate check; delivery reports arrive on the producer's thread and are handed
// back to the call that waits for them. The Redis "seen" marks are written by one
// marker thread after Kafka confirmed, so a failed write never hides a retry.
#pragma once

#include <absl/time/time.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/config/sections.h"
#include "tierflow/v1/ingest.grpc.pb.h"

namespace prometheus {
class Registry;
class Counter;
class Histogram;
}  // namespace prometheus

namespace tierflow::kafka {
class Producer;
}

namespace tierflow::ingest {

struct Config {
  config::KafkaConfig kafka;
  config::RedisConfig redis;
  config::GrpcConfig grpc;
  config::MetricsConfig metrics;
  config::LogConfig log;
  absl::Duration dedupe_window = absl::Hours(24 * 7);
  bool dedupe_enabled = true;
  std::string ready_file;
};

Config load_config(const std::string& path);

class Deduper;

class IngestService final : public v1::PosIngest::Service {
 public:
  IngestService(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry);
  ~IngestService() override;

  grpc::Status StreamEvents(grpc::ServerContext* ctx,
                            grpc::ServerReaderWriter<v1::EventAck, v1::PosEvent>* stream) override;
  grpc::Status SubmitEvents(grpc::ServerContext* ctx, const v1::SubmitEventsRequest* req,
                            v1::SubmitEventsResponse* resp) override;
  grpc::Status UpsertCustomers(grpc::ServerContext* ctx, const v1::UpsertCustomersRequest* req,
                               v1::UpsertCustomersResponse* resp) override;

  struct Metrics;

 private:
  class Call;
  // The RPC bodies; the overrides map what they throw with grpcx::guarded.
  grpc::Status submit_events(const v1::SubmitEventsRequest& req, v1::SubmitEventsResponse& resp);
  grpc::Status upsert_customers(const v1::UpsertCustomersRequest& req, v1::UpsertCustomersResponse& resp);
  const Config cfg_;
  kafka::Producer& producer_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Deduper> deduper_;
};

}  // namespace tierflow::ingest
