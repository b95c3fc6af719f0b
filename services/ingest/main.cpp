// ingest: the POS gateway. Parses config, wires the producer, the Redis mux, the gRPC
// service and /metrics, and runs until SIGTERM. The logic lives in src/.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "common/config/config.h"
#include "common/grpc/auth.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/redis/mux.h"
#include "common/runtime/service.h"
#include "common/runtime/stop.h"
#include "src/access.h"
#include "src/service.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  runtime::StopSignals stop;
  CLI::App app{"tierflow ingest: the POS gateway"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML config file (every key overridable by TIERFLOW_* env)");
  CLI11_PARSE(app, argc, argv);
  try {
    const ingest::Config cfg = ingest::load_config(config_file);
    log::init("ingest", cfg.log.level);
    metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
    kafka::RdkafkaProducer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id, cfg.kafka.properties);
    redis::Mux redis(cfg.redis);  // the process's one Redis connection; connects on first use
    ingest::IngestService service(cfg, producer, redis, metrics.registry());
    grpcx::ServiceAccess access(cfg.access, ingest::access_table(), metrics.registry());
    grpcx::Server server(cfg.grpc.listen, {&service}, &access);
    runtime::run_service(stop, server, metrics, producer, cfg.ready_file, {});
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("ingest: {}", e.what());
    return 1;
  }
}
