// notification: sends tier-change messages (and, later, birthday and holiday campaigns)
// exactly once. Parses config, wires store, channels, consumer and gRPC, runs.
#include "common/runtime/main.h"
#include "common/grpc/auth.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/metrics/metrics.h"
#include "common/runtime/service.h"
#include "src/access.h"
#include "src/service.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  return runtime::service_main(
      argc, argv, "notification", "tierflow notification: tier-change, birthday and holiday messages",
      notification::load_config, [](const notification::Config& cfg, runtime::StopSignals& stop) {
        metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
        kafka::RdkafkaProducer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id,
                                        cfg.kafka.properties);
        notification::Worker worker(cfg, producer, metrics.registry());
        notification::CampaignService campaigns(cfg);
        grpcx::ServiceAccess access(cfg.access, notification::access_table(), metrics.registry());
        grpcx::Server server(cfg.grpc.listen, {&campaigns}, &access);

        runtime::run_service(stop, server, metrics, producer, cfg.ready_file,
                             [&](std::stop_token token) { worker.run(token); });
      });
}
