// ledger: the system of record for every customer's money. Parses config, opens the
// store, wires the consumer loop (handler + outbox relay) and gRPC, runs until SIGTERM.
#include "common/runtime/main.h"
#include "common/grpc/auth.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/metrics/metrics.h"
#include "common/runtime/service.h"
#include "service/access.h"
#include "service/config.h"
#include "service/grpc_service.h"
#include "service/handler.h"
#include "service/metrics.h"
#include "service/relay.h"
#include "service/shared_ledger.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  return runtime::service_main(
      argc, argv, "ledger", "tierflow ledger: per-customer double-entry ledger, exactly once", ledger::load_config,
      [](const ledger::Config& cfg, runtime::StopSignals& stop) {
        metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
        ledger::LedgerMetrics probe(metrics.registry());
        ledger::SharedLedger core(ledger::open_ledger(cfg));
        kafka::RdkafkaProducer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id,
                                        cfg.kafka.properties);
        ledger::OutboxRelay relay(core, producer, probe);
        ledger::LedgerHandler handler(core, relay, probe, {.deferred_max_wait = cfg.deferred_max_wait});
        ledger::LedgerService service(core);
        grpcx::ServiceAccess access(cfg.access, ledger::access_table(), metrics.registry());
        grpcx::Server server(cfg.grpc.listen, {&service}, &access);

        runtime::run_service(stop, server, metrics, producer, cfg.ready_file, [&](std::stop_token token) {
          relay.relay();  // what a previous run committed but did not publish
          kafka::ConsumerLoop(ledger::consumer_options(cfg), handler, producer).run(token);
        });
      });
}
