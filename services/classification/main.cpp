// classification: applies the customer classification standard and keeps every
// customer's tier current in Redis and on tiers.assignments.v1, with its state in its own
// SQLite store. Parses config, wires the keeper, producer and gRPC, runs until SIGTERM.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <thread>

#include "common/grpc/auth.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/runtime/service.h"
#include "common/runtime/stop.h"
#include "service/tier_keeper.h"
#include "service/tier_service.h"
#include "service/access.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  runtime::StopSignals stop;
  CLI::App app{"tierflow classification: the classification standard, applied live"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML config file (every key overridable by TIERFLOW_* env)");
  CLI11_PARSE(app, argc, argv);
  try {
    const classification::Config cfg = classification::load_config(config_file);
    log::init("classification", cfg.log.level);
    metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
    kafka::RdkafkaProducer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id, cfg.kafka.properties);
    classification::TierKeeper keeper(cfg, producer, metrics.registry());
    classification::TierService service(cfg, keeper);
    grpcx::ServiceAccess access(cfg.access, classification::access_table(), metrics.registry());
    grpcx::Server server(cfg.grpc.listen, {&service}, &access);

    // Shutdown ends the watch streams first, then drains calls; the keeper evaluates what
    // it took, waits for the broker and commits before the producer flushes.
    runtime::run_service(
        stop, server, metrics, producer, cfg.ready_file, [&](std::stop_token token) { keeper.run(token); },
        [&] { keeper.close_watchers(); });
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("classification: {}", e.what());
    return 1;
  }
}
