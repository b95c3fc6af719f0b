// The classification service's own durable store (SQLite): per customer the materialised
// inputs (profile, newest account snapshot and its version), the current assignment and
// the override; every assignment version (history, also the outbox of what still has to
// reach Redis and tiers.assignments.v1); the override audit trail; the applied Kafka
// offsets per topic/partition; and the clock's watermark.
//
// Everything one consumed batch and its evaluation changed is written by apply() in one
// transaction, so the stored offsets never run ahead of (or behind) the stored state: a
// restart loads the state and resumes each partition at its stored offset.
//
// Time columns hold microseconds since the Unix epoch (UTC).
//
// Threading: a Store owns one SQLite connection and belongs to one thread at a time
// (thread-compatible). The engine keeps one writer; readers (gRPC history and as-of calls)
// open their own Store with Mode::reader beside it (WAL lets them read while it writes).
// Errors: every method throws sql::Error when SQLite fails (disk full, corrupt file, busy
// beyond the timeout); apply() then rolls back and changes nothing.
#pragma once

#include <absl/time/time.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tierflow/sql/sqlite.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/ledger.pb.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::classification {

class Store {
 public:
  enum class Mode {
    writer,  // creates the file and the schema when missing
    reader,  // the file must exist; never writes
  };
  explicit Store(const std::string& path, Mode mode = Mode::writer);

  // One stored customer, as load() hands it over.
  struct CustomerRow {
    std::string customer_id;
    std::optional<v1::AccountSnapshot> account;
    std::optional<v1::CustomerProfile> profile;
    std::optional<v1::TierAssignment> current;
    std::optional<v1::TierOverride> override;
  };

  enum class OverrideAction { set, clear, expire };
  // One override event: `set` stores `override`, `clear` and `expire` delete the stored one.
  // Each is also appended to the audit trail with actor and reason code.
  struct OverrideChange {
    std::string customer_id;
    OverrideAction action = OverrideAction::set;
    v1::TierOverride override;  // set: the new override; clear/expire: the one removed (may be empty)
    std::string actor;
    std::string reason_code;
    absl::Time at;
  };

  using TopicPartition = std::pair<std::string, int32_t>;

  // What one consumed batch and its evaluation changed. Pointers are borrowed for the
  // duration of apply().
  struct Batch {
    std::vector<const v1::AccountSnapshot*> accounts;   // upserted with their version
    std::vector<const v1::CustomerProfile*> profiles;   // upserted
    std::vector<const v1::TierAssignment*> changes;     // new current assignment + history row (unpublished)
    std::vector<OverrideChange> overrides;
    std::map<TopicPartition, int64_t> offsets;          // next offset to read
    std::optional<absl::Time> watermark;
    std::vector<std::pair<std::string, int64_t>> published;  // (customer, version) now in Redis and Kafka

    bool empty() const {
      return accounts.empty() && profiles.empty() && changes.empty() && overrides.empty() && offsets.empty() &&
             !watermark && published.empty();
    }
  };
  // All of the batch or nothing. A history row that already exists (same customer and
  // version) is replaced.
  void apply(const Batch& batch);

  // Every stored customer, in customer id order. Used once at start.
  void load(const std::function<void(CustomerRow&&)>& each);
  std::map<TopicPartition, int64_t> offsets();
  std::optional<absl::Time> watermark();

  bool has_customer(const std::string& customer_id);
  // The customer's current assignment (the one the last committed batch gave it).
  std::optional<v1::TierAssignment> current(const std::string& customer_id);
  // Every current assignment, in customer id order, with customer_id > after (empty: all).
  // `each` returns false to stop the scan.
  void currents(const std::string& after, const std::function<bool(v1::TierAssignment&&)>& each);
  // The changes of one customer (tier, credit hold, pending downgrade set, moved or
  // cleared; the first assignment), newest first, with version < before_version (0: from
  // the newest). *more is set when older changes remain.
  // The newest assignment with version < before_version that no override decided: what
  // the standard gave before a pin or floor. nullopt when there is none.
  std::optional<v1::TierAssignment> before_override(const std::string& customer_id, int64_t before_version);
  std::vector<v1::TierAssignment> history(const std::string& customer_id, int64_t before_version, int limit,
                                          bool* more);
  // The version in force at `t`: the newest one whose evaluated_time is <= t. nullopt when
  // the customer had no assignment yet at `t`.
  std::optional<v1::TierAssignment> as_of(const std::string& customer_id, absl::Time t);
  // as_of() of every customer that had an assignment at `t` (service/store_overview.cpp).
  void as_of_all(absl::Time t, const std::function<void(v1::TierAssignment&&)>& each);
  // The stored profile of one customer, and a search over ids (prefix) and names
  // (ASCII case-insensitive substring) for the console; both in service/store_overview.cpp.
  std::optional<v1::CustomerProfile> profile(const std::string& customer_id);
  struct Match {
    std::string customer_id, name, tier;
  };
  std::vector<Match> search(const std::string& query, int limit);
  // History rows not yet confirmed as published, oldest version first per customer.
  std::vector<v1::TierAssignment> unpublished();

  struct AuditEntry {
    int64_t id = 0;
    std::string customer_id;
    OverrideAction action = OverrideAction::set;
    std::string actor;
    std::string reason_code;
    v1::TierOverride override;
    absl::Time at;
  };
  // Audit trail of one customer, oldest first.
  std::vector<AuditEntry> override_audit(const std::string& customer_id);

 private:
  sql::sqlite::Db db_;
};

std::string_view to_string(Store::OverrideAction a);

}  // namespace tierflow::classification
