// The ledger service's configuration (one YAML file, every key overridable by
// TIERFLOW_<KEY_PATH>), and the ledger it opens.
#pragma once

#include <absl/time/time.h>

#include <memory>
#include <string>

#include "common/config/sections.h"
#include "common/kafka/consumer_loop.h"
#include "tierflow/ledger/ledger.h"

namespace tierflow::ledger {

struct Config : config::ServiceConfig {
  std::string store_backend = "sqlite";  // sqlite (one instance) | postgres (several)
  std::string store_path = "ledger.db";  // sqlite
  std::string store_postgres_url;        // postgres: libpq URL; secrets via TIERFLOW_STORE_POSTGRES_URL
  std::string group_id = "ledger";
  int max_batch = 20000;  // records per SQL transaction
  absl::Duration deferred_max_wait = absl::Hours(24 * 7);
  // The snapshot clock (README, "Snapshot clock"): Options::allowed_lateness and
  // Options::snapshot_day_zone (an IANA zone name, loaded and checked at startup).
  absl::Duration allowed_lateness = absl::Hours(24);
  std::string snapshot_day_zone = "UTC";
  // Options::idle_partition_after (README, "Idle partitions"): event time.
  absl::Duration idle_partition_after = absl::Hours(24);
};

// Reads and validates `path`; throws config::ConfigError naming the key.
Config load_config(const std::string& path);

// Opens the configured store, pipelined, with rejections kept in the outbox (the relay
// publishes them to the DLQ). Throws when the store cannot be opened.
std::unique_ptr<Ledger> open_ledger(const Config& cfg);

// The consumer loop's options: pos.events.v1 in batches of max_batch. Resolves the
// bootstrap servers (may block up to kafka.bootstrap_wait).
kafka::ConsumerOptions consumer_options(const Config& cfg);

}  // namespace tierflow::ledger
