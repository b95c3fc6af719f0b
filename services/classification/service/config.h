// The classification service's configuration: one typed struct, parsed once at start by
// load_config (unknown keys rejected, every key with a default and a range).
#pragma once

#include <chrono>
#include <string>

#include "common/config/sections.h"

namespace tierflow::classification {

struct Config : config::ServiceConfig {
  config::RedisConfig redis;
  std::string standard_path = "standard.yaml";
  // SQLite file of the service's own state (created when missing).
  std::string store_path = "classification.db";
  // One clock per deployment (issue 10). wall: live, now is the wall clock. events:
  // replay and backfill, now is the newest event time seen (stored); before any event
  // time is known nothing is decided (nothing is ever dated with the wall clock).
  // "watermark", the older name of events, is read as events. Every assignment says
  // which clock its times are on (TierAssignment.clock); overrides and audit rows always
  // carry wall time.
  std::string clock = "wall";
  // Everyone is re-evaluated this often even without input (time decay, percentiles).
  std::chrono::milliseconds reevaluate_interval{60000};
  // During a steady stream of input, an input waits at most this long for its evaluation
  // (otherwise evaluation runs as soon as the input settles: an empty poll).
  std::chrono::milliseconds evaluate_delay{1000};
  // Changes queued per WatchTierChanges caller; a watcher that falls this far behind is
  // dropped with RESOURCE_EXHAUSTED rather than slowing the engine.
  int watch_queue_size = 1024;
  std::string group_id = "classification";
  // Where evaluation points come from with clock: events. watermarks (the default): the
  // day ends of the standard's evaluation.time_zone, each evaluated once the ledger's
  // watermark records (LedgerWatermark) on every ledger.accounts.v1 partition have passed
  // it; newer snapshots are held until then, and decisions between points are provisional
  // (README, "Points on the ledger's watermarks"). newest_event: a point at each new day
  // of the newest event time seen (depends on batching; for set-ups without the ledger's
  // watermark records). Not used with clock: wall.
  std::string evaluation_points = "watermarks";
  // Partitions of ledger.accounts.v1 (every one must pass a point); 0: ask the brokers.
  int accounts_partitions = 0;
  // Names this instance's reader of classification.points.v1 (its own consumer group);
  // empty: host name and store_path. Instances of one deployment share group_id and differ
  // in store_path (and instance_id when set).
  std::string instance_id;
  // Largest summary chunk on classification.points.v1 (records stay under 1 MB).
  int points_chunk_bytes = 900000;
  // Retention of classification.points.v1: after evaluating a point T, an instance writes
  // tombstones for its own partitions' summary and overview-row records of points more
  // than this many days before T, so compaction drops them (README).
  int points_keep_days = 35;
};

// Reads `path` (empty: the environment alone); TIERFLOW_* variables override its keys.
// Throws config::ConfigError naming the key and what is allowed.
Config load_config(const std::string& path);

}  // namespace tierflow::classification
