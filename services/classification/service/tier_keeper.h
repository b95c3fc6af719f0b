// TierKeeper: the classification service's state and its one writer. It materialises
// accounts and profiles from Kafka, applies the standard (tierflow_classification_core),
// keeps its state in its own SQLite store (service/store.h), hands changed assignments to
// the TierPublisher, and answers the gRPC service's questions.
//
// Durability: the state (inputs, assignments, overrides, history, watermark) and the
// applied Kafka offsets are written in one transaction per consumed batch and its
// evaluation. At start the keeper loads the store and resumes every partition at its
// stored offset (from the beginning when none is stored). A changed assignment is
// committed first, then published (service/tier_publisher.h).
//
// Lifecycle: built before the gRPC service and the consumer thread, destroyed after both
// (main.cpp, tests/integration/classification/harness.h). run() is called once.
// Threading: run() consumes and evaluates on one thread (the consumer side below). Everything that writes the store
// or Redis (evaluation, reload, overrides) holds the keeper's unique lock. gRPC calls read
// the store through a read connection of their own (history, as-of), or the keeper's state
// under its shared lock (Explain, List, Distribution, WhatIf).
#pragma once

#include <absl/base/thread_annotations.h>
#include <absl/time/time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "service/config.h"
#include "service/points.h"
#include "service/probe.h"
#include "service/store.h"
#include "service/tier_keeper_overview.h"
#include "service/tier_publisher.h"
#include "service/watcher.h"
#include "tierflow/classification/compact.h"
#include "tierflow/classification/engine.h"
#include "tierflow/classification/standard.h"
#include "tierflow/v1/tier.pb.h"

namespace prometheus {
class Registry;
}
namespace tierflow::kafka {
struct TopicPartition;
class DeadLetters;
class Producer;
class Record;
}  // namespace tierflow::kafka

namespace tierflow::classification {

class TierKeeper {
 public:
  // Loads the standard and the store (state, offsets, watermark). Throws StandardError,
  // sql::Error or ConfigError when either cannot be used.
  TierKeeper(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry);
  ~TierKeeper();
  TierKeeper(const TierKeeper&) = delete;
  TierKeeper& operator=(const TierKeeper&) = delete;

  // Consumes and evaluates until stop (kafka::ConsumerLoop with a TierConsumer); then
  // drains: evaluates what was consumed, flushes the producer (bounded) and records what
  // was confirmed. Throws when Kafka setup, a dead letter or the store fails.
  void run(std::stop_token stop);

  // --- The consumer side (service/tier_consumer.h), on the consumer loop's thread ---
  // The next offset applied to memory for topic/partition; nullopt when none is.
  std::optional<int64_t> applied_offset(std::string_view topic, int32_t partition) const;
  // Applies a consumed batch to memory; the next evaluation commits it with its offsets.
  // Poison records go to `dead_letters` and are confirmed before anything of the batch is
  // applied (throws KafkaError, applying nothing, when the broker does not take them).
  void apply(std::span<const kafka::Record> batch, kafka::DeadLetters& dead_letters);
  // Rethrows the failure of an evaluation's commit: memory is ahead of the store, the
  // consumer must stop (the restart resumes from the store).
  void check_store() const;
  bool publisher_attention_due(std::chrono::steady_clock::time_point now) const;
  // Partitions taken away (after their last commit): this instance stops publishing
  // progress and summaries for them (their next owner does).
  void release_partitions(const std::vector<kafka::TopicPartition>& partitions);
  // evaluation_points: watermarks: reads the points topic; true when it brought something
  // (another instance's summary may complete a point: evaluate).
  bool poll_points();
  // Under the unique lock: the publisher's retries, then an evaluation when `evaluate`.
  // `evaluate`: an evaluation point when `point` or when one is due (the first evaluation,
  // or a new day of event time with clock: events), else only the changed customers
  // against the frozen cut points.
  void maintain(std::chrono::steady_clock::time_point now, bool evaluate, bool point = false);
  // Shutdown: evaluates when `dirty`, waits for the broker (bounded), commits the rest.
  void drain(bool dirty);

  // An evaluation point now, as the schedule in run() does (any thread; takes the unique
  // lock): the population's cut points are computed again and everyone is re-evaluated.
  // Returns how many assignments changed. Throws what the store's commit throws
  // (then run() stops: memory is ahead of the store).
  size_t reevaluate();

  // For gRPC (any thread).
  std::optional<Evaluation> explain(const std::string& customer_id, v1::TierAssignment* current) const;
  v1::Distribution distribution(const v1::GetDistributionRequest& request = {}) const;
  std::vector<v1::TierAssignment> list(const std::string& tier, const std::string& dimension,
                                       const std::string& class_name, const std::string& after, int limit,
                                       std::string* next) const;
  v1::WhatIfResponse what_if(const Standard& candidate) const;
  // GetOverview (service/tier_keeper_overview.cpp): the kept aggregates, or the history
  // at a past as_of. Throws errors::InvalidArgument (a bad as_of), sql::Error.
  std::shared_ptr<const v1::Overview> overview(const v1::GetOverviewRequest& request) const;
  // Loads the standard file again; a bad file throws StandardError and changes nothing.
  v1::ReloadStandardResponse reload();

  // Overrides: validated (errors::InvalidArgument naming the field, errors::NotFound for
  // an unknown customer), stored with an audit row (errors::Unavailable when the store
  // fails), and applied at once: the customer is re-evaluated and a changed assignment
  // published before the call returns.
  v1::TierOverride set_override(const v1::TierOverride& requested);
  // False when the customer had no override.
  bool clear_override(const std::string& customer_id, const std::string& actor, const std::string& reason_code);

  // History and as-of read the store through a connection of the caller's own.
  bool known(const std::string& customer_id) const;
  std::vector<v1::TierAssignment> history(const std::string& customer_id, int64_t before_version, int limit,
                                          bool* more) const;
  std::optional<v1::TierAssignment> as_of(const std::string& customer_id, absl::Time t) const;

  // Registers a watcher of published changes; unwatch when the call ends.
  std::shared_ptr<Watcher> watch(std::vector<std::string> tiers) { return publisher_.watch(std::move(tiers)); }
  void unwatch(const std::shared_ptr<Watcher>& w) { publisher_.unwatch(w); }
  // Ends every watch (shutdown): their calls return UNAVAILABLE.
  void close_watchers() { publisher_.close_watchers(); }

  // The clock evaluations use (wall, or the stored/seen watermark).
  absl::Time now() const;
  std::vector<std::string> tier_names() const;

  // evaluation_points: watermarks. Replaces the reader of classification.points.v1 (tests:
  // an in-memory feed; run() makes the Kafka one when none was set). Before run().
  void set_points_feed(std::unique_ptr<points::Feed> feed);
  // The last evaluated point (InfinitePast: none yet).
  absl::Time last_point() const;

  // Memory held per customer by the keeper (map node, compact inputs, overrides and what
  // they point to), averaged over the customers held; 0 when none.
  double bytes_per_customer() const;
  size_t customers() const;

 private:
  // What is held per customer (about 0.8 KB): compact inputs, the override (rare, on the
  // heap), and a summary of the current assignment; the assignment itself lives in the
  // store (always committed before memory changes) and in Redis. Features are recomputed
  // when needed.
  struct Customer {
    std::optional<CompactAccount> account;
    std::optional<CompactProfile> profile;
    std::unique_ptr<v1::TierOverride> override;
    int64_t account_version = 0;  // of `account` (older snapshots are dropped)
    // The classification at the last evaluation (under standard_ and population_ then);
    // the current assignment was decided from it. Invalid after a reload or an override.
    Classification last{};
    bool last_valid = false;
    bool has_current = false;        // the store holds a current assignment
    bool pending_downgrade = false;  // ... which announces a downgrade (time-dependent)
    bool foreign_warned = false;     // money in a currency the standard does not value, logged
    bool backfill = false;           // the applied snapshot is backfilled history (AccountSnapshot.backfill)
    bool provisional = false;        // the current assignment is provisional (decided between points)
    int32_t partition = -1;          // the accounts partition its snapshots come from
  };
  CompactInputs compact_inputs(const std::string& id, const Customer& c) const {
    return CompactInputs{id, c.account ? &*c.account : nullptr, c.profile ? &*c.profile : nullptr};
  }
  // evaluate_assignment() (or evaluate() when `full`) from compact inputs and their features.
  Evaluation evaluate_customer(const std::string& id, const Customer& c, const Features& f, bool full) const;
  void note_current(Customer& c, const v1::TierAssignment& a);
  // now() for callers that hold the lock.
  absl::Time clock_locked() const;
  // The clock an override of `c` is decided at. clock: events with watermark points: the
  // later of the last evaluated point and the customer's own newest applied event time,
  // which every instance (and a restarted one) shares, where this instance's newest event
  // time depends on the partitions it holds; otherwise clock_locked().
  absl::Time override_clock_locked(const Customer& c) const;
  // False while the events clock has seen no event time: nothing can be decided yet.
  bool clock_known_locked() const;
  // One consumed record, parsed (account, mark or profile; none for poison or another topic).
  struct Input {
    Store::TopicPartition tp;
    int64_t offset = 0;
    std::optional<v1::AccountSnapshot> account;
    std::optional<v1::CustomerProfile> profile;
    std::optional<v1::LedgerWatermark> mark;
  };
  // Applies one input to memory and marks it pending. Caller holds the unique lock.
  void apply_input(Input& in);
  // Applies a snapshot to memory (pending for the store). Unique lock held.
  void apply_account(v1::AccountSnapshot&& s, int32_t partition);

  // --- evaluation_points: watermarks (tier_keeper_points.cpp); unique lock held ---
  // A snapshot or a mark read with watermark points: marks are recorded, snapshots newer
  // than the open point held.
  void apply_points_input(Input& in);
  // The point to evaluate next (nullopt while the first one is not known).
  std::optional<absl::Time> open_point_locked() const;
  // Reads the feed, publishes this instance's progress and summaries, evaluates every
  // point that is complete on every partition (held snapshots applied in between), then
  // the changed customers provisionally. Returns the assignments changed.
  size_t advance_points_locked();
  void release_held_locked(absl::Time point);
  bool read_feed_locked();
  void publish_progress_locked();
  void publish_summaries_locked(absl::Time point);
  // After `point` was evaluated: each owned partition's overview rows at it, to the topic.
  void publish_rows_locked(absl::Time point);
  // Retention, after `point` was evaluated: tombstones for the owned partitions' records
  // of points more than points_keep_days before it.
  void expire_points_locked(absl::Time point);
  // Joins every partition's rows of the last point into the book GetDistribution answers
  // from, once all are in (and not done yet).
  void join_rows_locked();
  // Recomputes features and the population, classifies everyone on compact inputs, and
  // runs evaluate_assignment() + decide() only for customers whose classification changed
  // or whose assignment is time-dependent (pending downgrade, override); commits the batch
  // (pending inputs and offsets with it) and publishes what changed. Unique lock held.
  size_t evaluate_all();
  // Between points: only the customers in changed_, against the frozen population (cost
  // per customer: its features, classify() against the cut points, one point read of its
  // current assignment; nothing proportional to the population). Unique lock held.
  size_t evaluate_changed();
  // `at`: the point's time (watermark points; else the clock). `summary`: the point's
  // merged population summary (watermark points; else computed from everyone here).
  size_t run_evaluation(bool point, std::optional<absl::Time> at = std::nullopt,
                        const PopulationSummary* summary = nullptr);
  bool point_due_locked() const;
  // Decides customer `id` again at `t` under `ovr` (the override being set; null when
  // clearing) and stores `change`, the decision and the pending inputs in one commit
  // (errors::Unavailable, prefixed by `what`, when the store fails; nothing changed).
  // Returns the new assignment when it changed, for the caller to publish. Unique lock held.
  std::optional<v1::TierAssignment> commit_override(const std::string& id, Customer& c, const v1::TierOverride* ovr,
                                                    Store::OverrideChange change, absl::Time t, const char* what);
  // Moves the pending inputs, offsets, watermark and delivery confirmations into `batch`.
  void fill_pending(Store::Batch& batch);
  void clear_pending();
  // fill_pending + one store commit + clear_pending. A failed commit is recorded as the
  // store failure (run() stops: memory is ahead of the store) and rethrown. Unique lock held.
  void commit_pending(Store::Batch& batch);

  const Config& cfg_;
  kafka::Producer& producer_;
  Probe probe_;
  const bool events_clock_;  // clock: events (or its older name, watermark)
  // Guards the state below. Shared: gRPC reads. Unique: everything that changes memory or
  // writes the store and Redis (the publisher is used under it too).
  mutable std::shared_mutex mu_;
  std::shared_ptr<const Standard> standard_ ABSL_GUARDED_BY(mu_);
  Population population_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, Customer> customers_ ABSL_GUARDED_BY(mu_);
  // Profile strings (industry, region); grows under the unique lock.
  Vocabulary vocabulary_ ABSL_GUARDED_BY(mu_);
  // For standard_ and vocabulary_, rebuilt by evaluate_all when stale.
  MappingTable mappings_ ABSL_GUARDED_BY(mu_);
  const Standard* mappings_standard_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Time watermark_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The clock of the last evaluation point (InfinitePast: none yet in this process).
  absl::Time last_point_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Customers whose inputs were applied since the last evaluation.
  std::unordered_set<std::string> changed_ ABSL_GUARDED_BY(mu_);
  absl::Time stored_watermark_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The writer connection (the publisher uses it under the unique lock too).
  std::unique_ptr<Store> store_ ABSL_PT_GUARDED_BY(mu_);

  // Applied to memory, not yet in the store. The protos as consumed, for the store
  // (memory holds only their compact form).
  std::unordered_map<std::string, std::pair<v1::AccountSnapshot, int32_t>> pending_accounts_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, v1::CustomerProfile> pending_profiles_ ABSL_GUARDED_BY(mu_);
  std::map<Store::TopicPartition, int64_t> applied_offsets_ ABSL_GUARDED_BY(mu_);  // next offset per partition
  std::set<Store::TopicPartition> pending_offsets_ ABSL_GUARDED_BY(mu_);
  // Set (under the unique lock) when a commit failed during evaluation: memory is ahead of
  // the store, so run() stops and the process restarts from the store.
  std::exception_ptr store_failure_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> store_failed_{false};

  // evaluation_points: watermarks.
  const bool watermark_points_;
  int partitions_ = 0;  // of ledger.accounts.v1
  std::unique_ptr<points::Feed> feed_ ABSL_GUARDED_BY(mu_);
  points::Board board_ ABSL_GUARDED_BY(mu_);
  std::map<int32_t, Store::Mark> marks_ ABSL_GUARDED_BY(mu_);            // owned accounts partitions
  std::map<int32_t, Store::Mark> published_marks_ ABSL_GUARDED_BY(mu_);  // as last put on the points topic
  std::set<int32_t> pending_marks_ ABSL_GUARDED_BY(mu_);
  // Snapshots newer than the open point, per customer in version order.
  std::map<std::string, std::vector<Store::Held>> held_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int64_t>, Store::Held> pending_hold_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, int64_t>> pending_unhold_ ABSL_GUARDED_BY(mu_);
  // (point us, partition) summaries this process put on the topic (delivery failures are
  // taken out again by the callback, under summaries_mu_, so the next advance resends).
  std::shared_ptr<std::pair<std::mutex, std::set<std::pair<int64_t, int32_t>>>> summaries_sent_;
  // population_ holds the cut points of last_point_ (after a restart: once its summaries
  // were read back from the topic).
  bool frozen_known_ ABSL_GUARDED_BY(mu_) = false;

  // After the store and the probe it uses; before nothing that needs it at destruction.
  TierPublisher publisher_;
  // The overview's aggregates (its own mutex): noted under the unique lock, read without it.
  mutable OverviewKeeper overview_;
};

}  // namespace tierflow::classification
