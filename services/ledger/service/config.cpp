#include "service/config.h"

#include "common/config/config.h"
#include "common/kafka/topics.h"

namespace tierflow::ledger {

Config load_config(const std::string& path) {
  config::Loader loader(path);
  auto root = loader.root();
  Config c;
  config::read_service(root, "ledger", "127.0.0.1:7002", "127.0.0.1:9102", c);
  auto store = root.section("store");
  c.store_backend = store.get_enum("backend", c.store_backend, {"sqlite", "postgres"});
  c.store_path = store.get_string("path", c.store_path);
  c.store_postgres_url = store.get_string("postgres_url", "");
  if (c.store_backend == "postgres" && c.store_postgres_url.empty()) {
    throw config::ConfigError(loader.file() +
                              ": key 'store.postgres_url': required with store.backend postgres "
                              "(env TIERFLOW_STORE_POSTGRES_URL)");
  }
  c.group_id = root.get_string("group_id", c.group_id);
  c.max_batch = static_cast<int>(root.get_int("max_batch", c.max_batch, 1, 1000000));
  c.deferred_max_wait = absl::Seconds(root.get_int("deferred_max_wait_s", 7 * 24 * 3600, 1, 365LL * 24 * 3600));
  c.allowed_lateness = absl::Seconds(root.get_int("allowed_lateness_s", 24 * 3600, 0, 365LL * 24 * 3600));
  c.idle_partition_after = absl::Seconds(root.get_int("idle_partition_after_s", 24 * 3600, 0, 365LL * 24 * 3600));
  c.snapshot_day_zone = root.get_string("snapshot_day_zone", c.snapshot_day_zone);
  if (absl::TimeZone tz; !absl::LoadTimeZone(c.snapshot_day_zone, &tz)) {
    throw config::ConfigError(loader.file() + ": key 'snapshot_day_zone': unknown time zone '" + c.snapshot_day_zone +
                              "' (an IANA name, e.g. UTC or Asia/Shanghai)");
  }
  loader.finish();
  return c;
}

std::unique_ptr<Ledger> open_ledger(const Config& cfg) {
  Options options;
  options.dlq_in_outbox = true;
  // Commit batch N on a writer thread while batch N+1 is processed: the second core.
  options.pipeline = true;
  options.allowed_lateness = cfg.allowed_lateness;
  options.watermark_records = true;
  options.idle_partition_after = cfg.idle_partition_after;
  absl::LoadTimeZone(cfg.snapshot_day_zone, &options.snapshot_day_zone);  // checked by load_config
  return cfg.store_backend == "postgres" ? Ledger::open_postgres(cfg.store_postgres_url, options)
                                         : Ledger::open_sqlite(cfg.store_path, options);
}

kafka::ConsumerOptions consumer_options(const Config& cfg) {
  kafka::ConsumerOptions o;
  o.bootstrap = config::resolve_bootstrap(cfg.kafka);
  o.group_id = cfg.group_id;
  o.client_id = cfg.kafka.client_id;
  o.topics = {std::string(topics::kPosEvents)};
  o.session_timeout = cfg.kafka.session_timeout;
  o.max_batch = static_cast<size_t>(cfg.max_batch);
  o.poll_timeout = std::chrono::milliseconds(100);
  o.properties = cfg.kafka.properties;
  return o;
}

}  // namespace tierflow::ledger
