// ingest: the POS gateway. Parses config, wires the producer, the Redis mux, the gRPC
// service and /metrics, and runs until SIGTERM. The logic lives in src/.
#include "common/runtime/main.h"
#include "common/config/config.h"
#include "common/grpc/auth.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"
#include "common/metrics/metrics.h"
#include "common/redis/mux.h"
#include "common/runtime/service.h"
#include "src/access.h"
#include "src/service.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  return runtime::service_main(
      argc, argv, "ingest", "tierflow ingest: the POS gateway", ingest::load_config,
      [](const ingest::Config& cfg, runtime::StopSignals& stop) {
        metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
        kafka::RdkafkaProducer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id,
                                        ingest::producer_properties(cfg));
        // Ready means ready: the first tills' events do not wait for the partition leaders.
        producer.prefetch_metadata({topics::kPosEvents, topics::kCustomers}, std::chrono::seconds(10));
        redis::Mux redis(cfg.redis);  // the process's one Redis connection; connects on first use
        ingest::IngestService service(cfg, producer, redis, metrics.registry());
        grpcx::ServiceAccess access(cfg.access, ingest::access_table(), metrics.registry());
        grpcx::Server server(cfg.grpc.listen, {&service}, &access);
        runtime::run_service(stop, server, metrics, producer, cfg.ready_file, {});
      });
}
