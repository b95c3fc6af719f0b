// The ledger's unit of work: a batch of records applied against a per-batch view of the
// store and committed, with the consumed offsets, in one transaction. It owns
// - the caches that live across batches: customers, ledger balances, offsets, the index of
//   deferred events;
// - the per-batch overlay: event rows read or changed by the batch (events_), customers
//   known absent, and the changes collected for Store::write;
// - pipelining (Options::pipeline): the writer thread that commits batch N while batch N+1
//   is processed, and the overlay of what batch N changed (inflight_events_) until its
//   commit is seen.
// What each event does is decided by the posting rules (posting_rules.h); BatchPoster
// (batch_poster.h) runs them against this view.
//
// Threading: thread-compatible, one thread (the Ledger's caller). When pipelined, the
// writer thread uses the store only through LockedStore and the Changes handed to it.
// Errors: a storage failure rolls the transaction back, drops every cache (they may hold
// changes that were not stored) and rethrows; the same batch can then be retried.
#pragma once

#include <absl/container/flat_hash_set.h>
#include <absl/container/node_hash_map.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline.h"
#include "posting_rules.h"
#include "snapshot_clock.h"
#include "tierflow/ledger/ledger.h"
#include "tierflow/ledger/store.h"

namespace tierflow::ledger {

inline constexpr Micros kMinMicros = std::numeric_limits<Micros>::min();
inline constexpr Micros kMaxMicros = std::numeric_limits<Micros>::max();

// Abseil's hash containers, searched with a std::string_view without building a string
// (Debian's Abseil has its own string_view, so the hash and equality are ours). StringMap
// keeps its values in place (node-based): the ledger holds pointers to them.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <typename V>
using StringMap = absl::node_hash_map<std::string, V, StringHash, std::equal_to<>>;
using StringSet = absl::flat_hash_set<std::string, StringHash, std::equal_to<>>;

// Orders (account, currency) keys and lets a std::map keyed by a pair of strings be
// searched with a pair of string_views, so a lookup builds no strings.
struct PairLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const noexcept {
    const std::string_view a1 = a.first, b1 = b.first;
    if (a1 != b1) return a1 < b1;
    return std::string_view(a.second) < std::string_view(b.second);
  }
};

// Debit and credit per (account, currency).
using BalanceMap = std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>, PairLess>;

// Where a partition of the input stands: the resume point, and the newest event time
// before it (the base of the partition's watermark).
struct PartitionCursor {
  int64_t next_offset = 0;
  Micros max_event_time = kNoEventTime;
  uint64_t batch = 0;  // Batch::number of the last batch that advanced it
};

// Orders (topic, partition) keys and finds them by (string_view, partition): a record's
// lookup builds no string.
struct TopicPartitionLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const noexcept {
    const std::string_view a1 = a.first, b1 = b.first;
    if (a1 != b1) return a1 < b1;
    return a.second < b.second;
  }
};

// One apply() call: what it changed so far.
struct Batch {
  Batch(ApplyResult& r, uint64_t n) : result(r), number(n) {}
  ApplyResult& result;
  uint64_t number;                      // touch() stamps the customers it changes with it
  std::vector<CustomerState*> changed;  // in the order of result.changed_customers
  // The record being processed: its partition, and that partition's watermark before it
  // (no event of the record, nor one it releases, counts earlier). Set by advance().
  PartitionCursor* cursor = nullptr;
  Micros floor = kNoEventTime;
  // Snapshots cut in the middle of the batch (stage_snapshot) are built on it.
  std::unique_ptr<google::protobuf::Arena> arena;
  std::set<std::pair<std::string, int32_t>> dirty_offsets;
  BalanceMap balance_deltas;  // what this batch adds to each (account, currency)
  Changes changes;  // filled by processing (deferred, outbox DLQ rows) and by flush()
};

class UnitOfWork {
 public:
  UnitOfWork(std::unique_ptr<Store> store, const Options& options);

  // Ledger::apply: serial (returns after the commit) or pipelined (after the hand-off).
  ApplyResult apply(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned = {},
                    const Ledger::ConfirmFn& confirm = {});
  // Whether a batch given `owned` would advance an idle partition (Ledger::mark_idle).
  bool has_idle_marks(std::span<const OwnedPartition> owned) const;
  // Waits for the batch being written; on its failure drops what was not stored, rethrows.
  void sync();
  // sync(), then rereads every cache from the store.
  void refresh();

  std::optional<int64_t> next_offset(std::string_view topic, int32_t partition) const;
  std::vector<OutboxMessage> pending_outbox(size_t limit);
  void ack_outbox(int64_t up_to_id) { store_->ack_outbox(up_to_id); }
  int64_t deferred_count() const { return deferred_total_; }
  // Rejects, in one transaction, the deferred events whose wait started before `before`.
  std::vector<Rejection> expire_deferred(Micros before, std::string_view window_text);

  // For reads outside a batch (after sync()): the store, and a customer from the cache or
  // the store (then kept in `holder`); nullptr when unknown.
  Store& store() { return *store_; }
  const CustomerState* lookup(std::string_view id, std::optional<CustomerState>& holder);

  // --- the per-batch view, for BatchPoster ---------------------------------------------
  // Advances the partition's resume point past `offset`; false when the record is below
  // it (replayed: skip it).
  bool advance(std::string_view topic, int32_t partition, int64_t offset, Batch& b);
  // The event row `id` as this batch sees it; nullptr when there is none. The pointer
  // stays valid for the batch (node-based map).
  const EventRow* find_event(std::string_view id);
  void put_event(EventRow row);
  void set_refunded(std::string_view id, int64_t refunded);
  void erase_event(std::string_view id);
  // nullptr for a customer neither cached nor stored.
  CustomerState* find_customer(std::string_view id);
  // A new customer, cached from now on (find_customer() returned nullptr for it).
  CustomerState& add_customer(const std::string& id);
  // False when a line would overflow the ledger-wide totals of its (account, currency).
  bool postable(const rules::Lines& lines, std::string_view currency) const;
  // Moves the ledger balances by the lines (the ones with a debit or credit).
  void move_balances(const rules::Lines& lines, std::string_view currency, Batch& b);
  // The current record's event time `t` joins its partition's newest (the watermark's
  // base). Call once per record whose event header is valid, released events excluded.
  void note_event_time(Micros t, Batch& b);
  // Call BEFORE changing `st` for an event at event time `t`: marks the customer changed
  // by this batch and moves its snapshot clock (as_of, kept in last_event_time) to the
  // event's effective time max(t, b.floor, as_of). When that crosses the end of an
  // evaluation day and the batch changed the customer before, first cuts a snapshot of the
  // state so far (the state at the end of its day). `backfill`: PosEvent.backfill.
  void touch(CustomerState& st, Micros t, bool backfill, Batch& b);
  // Keeps the deferred row in the batch and counts it in the index.
  void add_deferred(DeferredRow row, Batch& b);
  // Takes every event waiting for `sale_id` (stored, or deferred earlier in this batch),
  // by (partition, offset); empty at once when none is known to wait.
  std::vector<DeferredRow> take_waiting(const std::string& sale_id, Batch& b);
  // Records the rejection in the result and, with Options::dlq_in_outbox, as a DLQ row
  // (`key`: the rejected record's).
  void reject(std::string_view topic, std::string_view key, Rejection r, Batch& b);

 private:
  // An event row as the current batch sees it: read before or during the batch (present
  // or known absent) and changed by it. Dropped at the end of every batch, so nothing here
  // outlives a transaction (another instance may write the same database in between).
  struct EventSlot {
    std::optional<EventRow> row;
    bool in_store = false;  // the store held the row before this batch
    bool dirty = false;     // changed by this batch
  };

  ApplyResult apply_serial(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned,
                           const Ledger::ConfirmFn& confirm);
  ApplyResult apply_pipelined(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned,
                              const Ledger::ConfirmFn& confirm);
  void load_caches();
  void end_batch();
  void discard_uncommitted();
  void process_batch(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned,
                     const Ledger::ConfirmFn& confirm, Batch& b);
  // The watermark idle partitions are advanced to (M - idle_partition_after), or
  // kNoEventTime when no owned partition has one (or idle marks are off).
  Micros idle_target(std::span<const OwnedPartition> owned) const;
  // Whether partition `p` is to be advanced to `target`; `cur` is its cursor, if any.
  bool is_idle(const OwnedPartition& p, const PartitionCursor* cur, Micros target) const;
  // Advances every idle partition of `owned` (after the batch's records).
  void mark_idle(std::span<const OwnedPartition> owned, const Ledger::ConfirmFn& confirm, Batch& b);
  std::vector<const v1::PosEvent*> prefetch(std::span<const ConsumedRecord> batch, google::protobuf::Arena& arena);
  EventSlot& slot(std::string_view id);
  void flush(Batch& b);
  bool is_balanced() const;

  std::unique_ptr<Store> store_;  // a LockedStore when pipelined
  Options options_;
  // Pipelined only: writes and commits the previous batch (declared after store_, so it
  // stops first), and what that batch changed, until its commit is seen.
  std::unique_ptr<BatchWriter> writer_;
  uint64_t batches_ = 0;                  // apply() calls so far: Batch::number
  StringMap<EventSlot> inflight_events_;  // its events_: the dirty slots are what it changed
  std::map<std::pair<std::string, int32_t>, PartitionCursor, TopicPartitionLess> offsets_;
  DayClock days_;
  // Totals as this instance knows them (loaded at open, moved by its own postings): the
  // overflow checks and the per-batch balance check use them.
  BalanceMap balances_;
  StringMap<CustomerState> customers_;
  StringMap<EventSlot> events_;        // the current batch's view of event rows
  StringSet absent_customers_;         // known unknown in the current batch
  StringMap<int64_t> deferred_index_;  // waiting_for -> rows
  int64_t deferred_total_ = 0;
};

}  // namespace tierflow::ledger
