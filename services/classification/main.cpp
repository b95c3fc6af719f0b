// classification: applies the customer classification standard and keeps every
// customer's tier current in Redis and on tiers.assignments.v1, with its state in its own
// SQLite store. Parses config, wires the keeper, producer and gRPC, runs until SIGTERM.
#include "common/runtime/main.h"
#include "common/grpc/auth.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/metrics/metrics.h"
#include "common/runtime/service.h"
#include "service/access.h"
#include "service/tier_keeper.h"
#include "service/tier_service.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  return runtime::service_main(
      argc, argv, "classification", "tierflow classification: the classification standard, applied live",
      classification::load_config, [](const classification::Config& cfg, runtime::StopSignals& stop) {
        metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
        kafka::RdkafkaProducer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id,
                                        cfg.kafka.properties);
        classification::TierKeeper keeper(cfg, producer, metrics.registry());
        classification::TierService service(cfg, keeper);
        grpcx::ServiceAccess access(cfg.access, classification::access_table(), metrics.registry());
        grpcx::Server server(cfg.grpc.listen, {&service}, &access);

        // Shutdown ends the watch streams first, then drains calls; the keeper evaluates what
        // it took, waits for the broker and commits before the producer flushes.
        runtime::run_service(
            stop, server, metrics, producer, cfg.ready_file, [&](std::stop_token token) { keeper.run(token); },
            [&] { keeper.close_watchers(); });
      });
}
