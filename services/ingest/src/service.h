// The PosIngest gRPC service: validates, de-duplicates and writes events to Kafka, and
// acks each one. ACCEPTED is sent only after the broker confirmed the write; a copy
// arriving while the first copy is in flight gets the first's outcome (DUPLICATE when it
// was stored, RETRY when not). See deduper.h for the duplicate window.
//
// Threading: StreamEvents and StreamEventBatches run on gRPC's callback API (StreamCall,
// stream.h: no thread per stream, one duplicate check in flight per stream, bounded
// in-flight events per stream and per process). SubmitEvents and UpsertCustomers are sync handlers that block (at most
// limits.ack_timeout_ms) until every event is answered. Delivery reports arrive on the
// producer's thread. Every call shares the process's one redis::Mux. Every admitted event
// is answered within limits.ack_timeout_ms (pipeline.h).
// Errors: what an RPC throws is mapped once by grpcx::to_status (never UNKNOWN).
// Lifecycle: the producer and the mux must outlive the service.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/config/sections.h"
#include "common/grpc/auth.h"
#include "src/deduper.h"
#include "src/metrics.h"
#include "src/pipeline.h"
#include "tierflow/v1/ingest.grpc.pb.h"


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
  Pipeline::Options limits;     // limits.ack_timeout_ms, limits.process_in_flight, rate_limit.*
  int64_t stream_in_flight = 4096;  // limits.stream_in_flight: unanswered events per stream
};

Config load_config(const std::string& path);

// The producer's librdkafka properties: cfg.kafka.properties, with linger.ms 1 where they do
// not set it (the suite's default is 5). A till waits for every ack, and an ack waits for the
// broker's confirmation, so the linger is paid by every event: at 1 ms ingest_bench measures
// a lower p99 receive-to-ack and a higher rate than at 5 ms (the figures are in
// services/ingest/README.md, Throughput).
std::map<std::string, std::string> producer_properties(const Config& cfg);

using IngestServiceBase = v1::PosIngest::WithCallbackMethod_StreamEvents<
    v1::PosIngest::WithCallbackMethod_StreamEventBatches<v1::PosIngest::Service>>;

class IngestService final : public IngestServiceBase {
 public:
  // `mux` is the process's one Redis connection (the duplicate window).
  IngestService(const Config& cfg, kafka::Producer& producer, redis::Mux& mux, prometheus::Registry& registry);
  ~IngestService() override;

  grpc::ServerBidiReactor<v1::PosEvent, v1::EventAck>* StreamEvents(grpc::CallbackServerContext* ctx) override;
  grpc::ServerBidiReactor<v1::PosEventBatch, v1::EventAckBatch>* StreamEventBatches(
      grpc::CallbackServerContext* ctx) override;
  grpc::Status SubmitEvents(grpc::ServerContext* ctx, const v1::SubmitEventsRequest* req,
                            v1::SubmitEventsResponse* resp) override;
  grpc::Status UpsertCustomers(grpc::ServerContext* ctx, const v1::UpsertCustomersRequest* req,
                               v1::UpsertCustomersResponse* resp) override;

  const Deduper& deduper() const { return *deduper_; }     // for tests
  const Pipeline& pipeline() const { return *pipeline_; }  // for tests

 private:
  // The RPC bodies; the overrides map what they throw with grpcx::guarded.
  // `caller`: who posts (grpcx::caller); a pos caller's events for other stores are REJECTED.
  grpc::Status submit_events(const v1::SubmitEventsRequest& req, v1::SubmitEventsResponse& resp,
                             const std::optional<grpcx::Caller>& caller);
  grpc::Status upsert_customers(const v1::UpsertCustomersRequest& req, v1::UpsertCustomersResponse& resp);
  const Config cfg_;
  kafka::Producer& producer_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Deduper> deduper_;
  std::unique_ptr<Pipeline> pipeline_;  // before deduper_ in destruction: answers what is left
};

}  // namespace tierflow::ingest
