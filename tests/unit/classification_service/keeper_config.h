#pragma once
// The TierKeeper's config for the service's tests on the in-memory Kafka fakes: its store
// under the test's temporary directory, the local standard, a broker address that is never
// dialled (the fakes feed the loop) and Redis down (a socket with no server, which the
// keeper tolerates); scheduled evaluation once an hour, so only the test's records move it.
#include <chrono>
#include <string>

#include "service/config.h"
#include "tests/support/process.h"

namespace tierflow::classification {

inline Config offline_keeper_config(const test_support::TempDir& dir, const std::string& clock) {
  Config cfg;
  cfg.store_path = dir.file("classification.db");
  cfg.standard_path = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
  cfg.kafka.bootstrap_servers = "127.0.0.1:1";
  cfg.clock = clock;
  cfg.redis.unix_socket = dir.file("no-redis-here.sock");
  cfg.redis.timeout = std::chrono::milliseconds(200);
  cfg.reevaluate_interval = std::chrono::hours(1);
  return cfg;
}

}  // namespace tierflow::classification
