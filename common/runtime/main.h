// The shape every service's main.cpp shares, so a main only loads its config and wires its
// parts: stop signals first (before any thread starts, so every thread inherits the mask),
// `-c/--config`, log::init at the configured level, and whatever escapes (a config error at
// start, a worker failure that run_service rethrows) logged with the service's name and
// turned into exit status 1.
#pragma once

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <string>

#include "common/log/log.h"
#include "common/runtime/stop.h"

namespace tierflow::runtime {

// `load(path)` returns the service's typed config (with `log.level`); `run(cfg, stop)` wires
// the service and runs it until `stop` (runtime::run_service), throwing what failed.
template <class Load, class Run>
int service_main(int argc, char** argv, const std::string& name, const std::string& description, Load&& load,
                 Run&& run) {
  StopSignals stop;
  CLI::App app{description};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML config file (every key overridable by TIERFLOW_* env)");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto cfg = load(config_file);
    log::init(name, cfg.log.level);
    run(cfg, stop);
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", name, e.what());
    return 1;
  }
}

}  // namespace tierflow::runtime
