// The classification service's own durable store (SQLite): per customer the materialised
// inputs (profile, newest account snapshot and its version), the current assignment and
// the override; every assignment version (history, also the outbox of what still has to
// reach Redis and tiers.assignments.v1); the override audit trail; the applied Kafka
// offsets per topic/partition; and the clock's watermark. With evaluation points on the
// ledger's watermarks (issue 10) also: the last evaluated point, each owned accounts
// partition's watermark and earliest snapshot time, and the snapshots held for a later
// point. Provisional assignments (decided between points) are rows of the outbox too, but
// never history, as-of or override-base rows.
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
// beyond the timeout) or a stored assignment does not decode (service/assignment_blob.h:
// assignments are stored compressed; rows of earlier versions, serialised, still read);
// apply() then rolls back and changes nothing.
#pragma once

#include <absl/time/time.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tierflow/sql/checkpointer.h"
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
    int32_t account_partition = -1;  // the accounts partition it was read from (-1: not recorded)
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

  // One owned ledger.accounts.v1 partition's progress: its newest watermark record and the
  // earliest as_of of any snapshot read from it (InfinitePast/InfiniteFuture: none yet).
  struct Mark {
    absl::Time watermark = absl::InfinitePast();
    absl::Time first_as_of = absl::InfiniteFuture();
    bool operator==(const Mark&) const = default;
  };
  // A snapshot newer than the open evaluation point, applied when that point is evaluated.
  struct Held {
    int32_t partition = 0;
    v1::AccountSnapshot snapshot;
  };

  // What one consumed batch and its evaluation changed. Pointers are borrowed for the
  // duration of apply().
  struct Batch {
    std::vector<const v1::AccountSnapshot*> accounts;   // upserted with their version
    std::vector<int32_t> account_partitions;            // empty, or the partition of each of `accounts`
    std::vector<const v1::CustomerProfile*> profiles;   // upserted
    std::vector<const v1::TierAssignment*> changes;     // new current assignment + history row (unpublished)
    std::vector<OverrideChange> overrides;
    std::map<TopicPartition, int64_t> offsets;          // next offset to read
    std::optional<absl::Time> watermark;
    std::vector<std::pair<std::string, int64_t>> published;  // (customer, version) now in Redis and Kafka
    std::map<int32_t, Mark> marks;                             // upserted
    std::vector<const Held*> hold;                             // held snapshots added
    std::vector<std::pair<std::string, int64_t>> unhold;       // (customer, version) applied: no longer held
    // (customer, version): provisional outbox rows above `version` go (a point's record replaced them)
    std::vector<std::pair<std::string, int64_t>> drop_provisional;
    std::optional<absl::Time> point;  // the evaluation point now evaluated
    // With `point`: the merged PopulationSummary of the point (encoded), the frozen cut
    // points until the next one; a restart restores them from here (Store::frozen).
    std::optional<std::string> point_summary;

    bool empty() const {
      return accounts.empty() && profiles.empty() && changes.empty() && overrides.empty() && offsets.empty() &&
             !watermark && published.empty() && marks.empty() && hold.empty() && unhold.empty() &&
             drop_provisional.empty() && !point && !point_summary;
    }
  };
  // All of the batch or nothing. A history row that already exists (same customer and
  // version) is replaced.
  void apply(const Batch& batch);

  // Copies the write-ahead log into the database and empties it. After a batch that wrote
  // much (an evaluation point): SQLite looks every page read up in the log's index, whose
  // cost grows with the log, so a log left at the size of the population slows every
  // later per-sale read and write. Readers in flight keep what they need (it then stops
  // early and changes nothing they see).
  void checkpoint();

  // Every stored customer, in customer id order. Used once at start.
  void load(const std::function<void(CustomerRow&&)>& each);
  std::map<TopicPartition, int64_t> offsets();
  std::optional<absl::Time> watermark();
  // The last evaluated point; nullopt when none was.
  std::optional<absl::Time> point();
  // The last evaluated point whose merged summary was stored, and that summary (encoded);
  // nullopt when none was (a store written before summaries were kept).
  std::optional<std::pair<absl::Time, std::string>> frozen();
  std::map<int32_t, Mark> marks();
  // Every held snapshot, by customer then version.
  std::vector<Held> held();
  // The newest assignment that is not provisional (the record a point's decision is based
  // on); nullopt when there is none.
  std::optional<v1::TierAssignment> record(const std::string& customer_id);

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
  // Writer only: copies the log into the file beside the writer instead of inside the
  // commit that crosses SQLite's threshold (an evaluation's commit writes several pages per
  // changed customer, and copying them inline took half the consumer thread's time). Its
  // limit is above any single commit: the log holds each commit whole anyway, and a limit
  // below it would copy inline after every large evaluation again. After the Db: it stops
  // before the writer closes.
  std::optional<sql::sqlite::Checkpointer> checkpointer_;
};

std::string_view to_string(Store::OverrideAction a);

}  // namespace tierflow::classification
