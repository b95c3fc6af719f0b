// ledger: the system of record for every customer's money. Parses config, opens the
// store, wires consumer, outbox relay and gRPC, runs until SIGTERM.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <thread>

#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/runtime/ready_file.h"
#include "common/runtime/stop.h"
#include "service/service.h"

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
    ledger::SharedLedger core(ledger::Ledger::open_sqlite(cfg.store_path));
    kafka::Producer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id, cfg.kafka.properties);
    ledger::Runner runner(cfg, core, producer, metrics.registry());
    ledger::LedgerService service(core);
    grpcx::Server server(cfg.grpc.listen, {&service});

    std::exception_ptr failure;
    std::jthread consumer([&](std::stop_token) {
      try {
        runner.run(stop.token());
      } catch (...) {
        failure = std::current_exception();
        stop.request_stop();
      }
    });
    runtime::write_ready_file(cfg.ready_file, {{"grpc", server.port()}, {"metrics", metrics.port()}});
    spdlog::info("ready: grpc port {}, metrics port {}", server.port(), metrics.port());
    while (!stop.wait_for(std::chrono::seconds(1))) {
    }
    // Shutdown: stop calls; the consumer finishes its batch (committed with its offsets),
    // relays the outbox and leaves the group; then the producer flushes.
    server.shutdown(std::chrono::seconds(5));
    consumer.join();
    producer.flush(std::chrono::seconds(10));
    if (failure) std::rethrow_exception(failure);
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("ledger: {}", e.what());
    return 1;
  }
}
