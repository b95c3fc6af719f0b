// classification: applies the customer classification standard and keeps every
// customer's tier current in Redis and on tiers.assignments.v1, with its state in its own
// SQLite store. Parses config, wires engine, producer and gRPC, runs until SIGTERM.
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
  CLI::App app{"tierflow classification: the classification standard, applied live"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML config file (every key overridable by TIERFLOW_* env)");
  CLI11_PARSE(app, argc, argv);
  try {
    const classification::Config cfg = classification::load_config(config_file);
    log::init("classification", cfg.log.level);
    metrics::Server metrics(cfg.metrics.enabled ? cfg.metrics.listen : "");
    kafka::Producer producer(config::resolve_bootstrap(cfg.kafka), cfg.kafka.client_id, cfg.kafka.properties);
    classification::Engine engine(cfg, producer, metrics.registry());
    classification::TierService service(cfg, engine);
    grpcx::Server server(cfg.grpc.listen, {&service});

    std::exception_ptr failure;
    std::jthread consumer([&](std::stop_token) {
      try {
        engine.run(stop.token());
      } catch (...) {
        failure = std::current_exception();
        stop.request_stop();
      }
    });
    runtime::write_ready_file(cfg.ready_file, {{"grpc", server.port()}, {"metrics", metrics.port()}});
    spdlog::info("ready: grpc port {}, metrics port {}", server.port(), metrics.port());
    while (!stop.wait_for(std::chrono::seconds(1))) {
    }
    // Shutdown phases: end the watch streams, stop taking calls, stop consuming (the engine
    // evaluates what it took, waits for the broker and commits), flush the producer.
    engine.close_watchers();
    server.shutdown(std::chrono::seconds(5));
    consumer.join();
    producer.flush(std::chrono::seconds(10));
    if (failure) std::rethrow_exception(failure);
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("classification: {}", e.what());
    return 1;
  }
}
