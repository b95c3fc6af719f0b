// notification: tier-change messages, campaigns (birthday, holiday, retention, custom)
// and standing campaigns, each delivery exactly once. Parses config, wires, runs.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "common/grpc/auth.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/runtime/service.h"
#include "common/runtime/stop.h"
#include "src/access.h"
#include "src/app.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  runtime::StopSignals stop;
  CLI::App app{"tierflow notification: tier-change, birthday and holiday messages"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML config file (every key overridable by TIERFLOW_* env)");
  CLI11_PARSE(app, argc, argv);
  try {
    const notification::Config cfg = notification::load_config(config_file);
    log::init("notification", cfg.log.level);
    metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
    kafka::RdkafkaProducer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id, cfg.kafka.properties);
    notification::App service(cfg, producer, metrics.registry());
    grpcx::ServiceAccess access(cfg.access, notification::access_table(), metrics.registry());
    grpcx::Server server(cfg.grpc.listen, {&service.grpc_service()}, &access);

    runtime::run_service(stop, server, metrics, producer, cfg.ready_file,
                         [&](std::stop_token token) { service.run(token); });
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("notification: {}", e.what());
    return 1;
  }
}
