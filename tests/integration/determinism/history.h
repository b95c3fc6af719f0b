// The determinism test's input: one retail history generated from a seed (no clock, no
// I/O), the same bytes on every call with the same config. Months of event time, a few
// thousand customers over every partition of pos.events.v1; cash, card and on-account
// sales (with costs), refunds days later and on the same day as their sale, payments on
// time, late and never; customers that grow into the top classes, fall out of them
// (refunds, late payments, going quiet) and come back; overrides set and cleared at fixed
// positions; and, last, one far-later event per partition so that the history's last day
// closes everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tierflow::determinism_test {

// One pos.events.v1 record, in stream order.
struct HistoryEvent {
  std::string key;    // customer id: the record key, as ingest keys it
  std::string value;  // serialized tierflow.v1.PosEvent
  int64_t time = 0;   // its event time, unix seconds
};

struct OverrideAction {
  enum class Kind { pin, floor, clear } kind = Kind::pin;
  std::string customer;
  std::string tier;  // empty for clear
};

// Taken once events[0, after) are produced and the services have applied all of them.
struct OverridePoint {
  size_t after = 0;
  std::vector<OverrideAction> actions;
};

struct HistoryConfig {
  uint64_t seed = 20261130;
  int customers = 1500;
  int days = 150;
  int partitions = 12;              // pos.events.v1's: every one gets an end marker
  int64_t start_unix = 1735689600;  // 2025-01-01T00:00:00Z
  int end_marker_days = 3;          // the end markers come this long after the last day
};

struct History {
  std::vector<HistoryEvent> events;       // end markers last
  std::vector<OverridePoint> overrides;   // ascending `after`
  std::vector<std::string> customers;     // every customer id (end markers included), sorted
  std::map<std::string, int64_t> counts;  // events by kind, for the printout
};

History make_history(const HistoryConfig& config);

// The partition librdkafka's default partitioner (consistent_random: CRC-32 of the key)
// gives a non-empty key among `partitions`.
int32_t partition_of(const std::string& key, int partitions);

}  // namespace tierflow::determinism_test
