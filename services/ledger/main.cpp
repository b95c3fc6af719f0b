// ledger: the system of record for every customer's money. Parses config, opens the
// store, wires the consumer loop (handler + outbox relay) and gRPC, runs until SIGTERM.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "common/grpc/auth.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/runtime/service.h"
#include "common/runtime/stop.h"
#include "service/access.h"
#include "service/config.h"
#include "service/grpc_service.h"
#include "service/handler.h"
#include "service/metrics.h"
#include "service/relay.h"
#include "service/shared_ledger.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  runtime::StopSignals stop;
  CLI::App app{"tierflow ledger: per-customer double-entry ledger, exactly once"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML config file (every key overridable by TIERFLOW_* env)");
  CLI11_PARSE(app, argc, argv);
  try {
    const ledger::Config cfg = ledger::load_config(config_file);
    log::init("ledger", cfg.log.level);
    metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
    ledger::LedgerMetrics probe(metrics.registry());
    ledger::SharedLedger core(ledger::open_ledger(cfg));
    kafka::RdkafkaProducer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id, cfg.kafka.properties);
    ledger::OutboxRelay relay(core, producer, probe);
    ledger::LedgerHandler handler(core, relay, probe, {.deferred_max_wait = cfg.deferred_max_wait});
    ledger::LedgerService service(core);
    grpcx::ServiceAccess access(cfg.access, ledger::access_table(), metrics.registry());
    grpcx::Server server(cfg.grpc.listen, {&service}, &access);

    runtime::run_service(stop, server, metrics, producer, cfg.ready_file, [&](std::stop_token token) {
      relay.relay();  // what a previous run committed but did not publish
      kafka::ConsumerLoop(ledger::consumer_options(cfg), handler, producer).run(token);
    });
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("ledger: {}", e.what());
    return 1;
  }
}
