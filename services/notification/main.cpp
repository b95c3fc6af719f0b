// notification: tier-change messages, campaigns (birthday, holiday, retention, custom)
// and standing campaigns, each delivery exactly once. Loads config, wires, runs.
#include "common/grpc/auth.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/metrics/metrics.h"
#include "common/runtime/main.h"
#include "common/runtime/service.h"
#include "src/access.h"
#include "src/app.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  return runtime::service_main(
      argc, argv, "notification", "tierflow notification: tier-change, birthday and holiday messages",
      notification::load_config, [](const notification::Config& cfg, runtime::StopSignals& stop) {
        metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
        kafka::RdkafkaProducer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id,
                                        cfg.kafka.properties);
        notification::App service(cfg, producer, metrics.registry());
        grpcx::ServiceAccess access(cfg.access, notification::access_table(), metrics.registry());
        grpcx::Server server(cfg.grpc.listen, {&service.grpc_service()}, &access);

        runtime::run_service(stop, server, metrics, producer, cfg.ready_file,
                             [&](std::stop_token token) { service.run(token); });
      });
}
