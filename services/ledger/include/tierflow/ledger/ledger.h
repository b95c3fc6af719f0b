// tierflow::ledger: the ledger's domain core. It turns POS events (pos.events.v1 records)
// into double-entry journal entries and per-customer accounts, stores them with the consumed
// offsets in one SQL transaction, and leaves one AccountSnapshot per changed customer in a
// transactional outbox. It knows nothing of Kafka or gRPC: adapters at the edges call it.
//
// Threading: thread-compatible. One thread drives a Ledger; a caller that serves reads
// (account, statement, ...) from other threads must serialise all calls itself.
// Errors: bad input never throws; it becomes a Rejection. Storage failures throw
// sql::Error (or std::runtime_error) from apply(); then nothing of the batch is stored and
// the in-memory caches are dropped, so the same batch can be retried.
#pragma once

#include <absl/time/time.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/errors/errors.h"
#include "common/kafka/topics.h"
#include "tierflow/v1/ledger.pb.h"

namespace tierflow::ledger {

class Store;

// One Kafka record of pos.events.v1. The views must stay valid for the apply() call only.
struct ConsumedRecord {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view key;    // customer id
  std::string_view value;  // serialized tierflow.v1.PosEvent
};

// Watermark records on ledger.accounts.v1 (v1::LedgerWatermark): key kWatermarkKeyPrefix +
// the partition number, type header kWatermarkType, produced to that partition number.
inline constexpr std::string_view kWatermarkKeyPrefix = "~watermark/";
inline constexpr std::string_view kWatermarkType = "tierflow.v1.LedgerWatermark";

// A partition of the input this instance owns, as its consumer stands after a batch
// (kafka::PartitionPosition): what idle watermarks are decided from
// (Options::idle_partition_after). The views must stay valid for the call only.
struct OwnedPartition {
  std::string_view topic;
  int32_t partition = 0;
  int64_t next_offset = -1;  // the consumer's position; -1 when unknown
  bool caught_up = false;    // every record the broker had at its last answer was consumed
};

// An event the ledger refuses; goes to pos.events.v1.dlq with the reason.
struct Rejection {
  std::string event_id, customer_id;  // empty when the bytes could not be parsed
  int32_t partition = 0;
  int64_t offset = 0;
  // Readable: "refund 1,200.00 CNY above the 800.00 CNY that remains refundable on sale s-17".
  std::string reason;
  std::string value;  // the original bytes
};

struct ApplyResult {
  int64_t applied = 0;     // records of this batch applied now
  int64_t duplicates = 0;  // event_id seen before: nothing changed
  int64_t replayed = 0;    // offset below the stored resume point of its partition: skipped
  int64_t deferred = 0;    // waiting for the sale they name (see Ledger::deferred_count)
  int64_t released = 0;    // events deferred earlier (or earlier in this batch) applied now
  std::vector<Rejection> rejected;
  std::vector<std::string> changed_customers;  // in order of first change; one outbox row each
};

// A row of the transactional outbox, to be published by a relay and then acknowledged.
struct OutboxMessage {
  int64_t id = 0;
  std::string customer_id;  // the record key ("~watermark/<p>" for a watermark record)
  std::string payload;      // serialized v1::AccountSnapshot or v1::LedgerWatermark (topic
                            // ledger.accounts.v1), or the rejected record's original bytes
                            // (a DLQ topic)
  std::string topic = std::string(topics::kAccounts);
  std::string error;  // DLQ rows: the rejection reason (for the error header); else empty
  // DLQ rows: "topic/partition@offset" of the rejected record (the origin header); empty
  // for snapshots and for rows stored before origins were kept.
  std::string origin;
};

// Choices fixed when a Ledger is opened.
struct Options {
  // When true, every rejection (from apply() and expire_deferred()) is also written to the
  // outbox, in the same transaction, as a row with topic "<record topic>.dlq", the original
  // key and bytes, the reason and the record's origin (the shape of kafka::DeadLetters'
  // records), so a crash between the commit and the DLQ write loses nothing:
  // the relay publishes it like a snapshot. The Rejections are still returned (for logs and
  // metrics); the caller then must NOT publish them itself. Default false: the caller
  // publishes ApplyResult::rejected after the commit (a crash in between loses them).
  bool dlq_in_outbox = false;
  // When true, apply() returns once the batch is processed and handed to a writer thread,
  // which writes and commits it while the caller goes on to the next batch (on the second
  // core). The next apply() processes its batch, then waits for that commit before handing
  // its own over: at most one batch is uncommitted, and a failed commit is thrown by the
  // next call (apply(), sync() or a read), with everything after the last commit dropped
  // from memory. Reads other than next_offset() and deferred_count() wait for the commit
  // first; pending_outbox() returns what is committed, from memory when the store can.
  // Default false: apply() returns after its commit.
  bool pipeline = false;
  // The snapshot clock (README, "Snapshot clock"). A pos.events partition's watermark is
  // the newest event time seen in it minus allowed_lateness; an event counts at
  // max(event_time, the watermark before it, its customer's as_of). Zero is allowed.
  absl::Duration allowed_lateness = absl::Hours(24);
  // A customer's snapshots never straddle the end of a day in this zone: a batch whose
  // events of one customer cross a day end gives one snapshot per day.
  absl::TimeZone snapshot_day_zone = absl::UTCTimeZone();
  // When true, every transaction that consumed records of a partition ends its outbox rows
  // with that partition's v1::LedgerWatermark record (after the batch's snapshots; see
  // kWatermarkKeyPrefix). The service turns it on; default false (the outbox then holds
  // snapshots and DLQ rows only).
  bool watermark_records = false;
  // Idle partitions (README, "Idle partitions"; with watermark_records only): after a batch
  // given its owned partitions, each one that is caught up and whose watermark is older
  // than M - idle_partition_after (M: the newest watermark of the owned partitions) has
  // its watermark advanced to M - idle_partition_after, stored with its offset in the
  // batch's transaction, and gets a mark. Event time, not wall time.
  absl::Duration idle_partition_after = absl::Hours(24);
  // Customers kept in memory between batches. Beyond it, after a batch, the cache is
  // dropped (pipelined: all but the batch still being written) and refills from the store.
  size_t customer_cache_capacity = 500'000;
};

// An unknown customer asked for (grpcx::to_status maps it to NOT_FOUND).
using NotFound = errors::NotFound;
// A malformed request, e.g. a page token this ledger did not issue (INVALID_ARGUMENT).
using InvalidArgument = errors::InvalidArgument;

class Ledger {
 public:
  // Opens (creating file and schema if missing) an SQLite-backed ledger. Throws sql::Error.
  static std::unique_ptr<Ledger> open_sqlite(const std::string& path, const Options& options = {});
  // Opens a PostgreSQL-backed ledger (libpq connection string or URL), creating the schema
  // if missing. Several instances may share the database, each owning its partitions (see
  // refresh()). Throws std::runtime_error (pqxx) when the server cannot be used.
  static std::unique_ptr<Ledger> open_postgres(const std::string& url, const Options& options = {});
  // Any backend behind the Store interface.
  static std::unique_ptr<Ledger> open(std::unique_ptr<Store> store);
  static std::unique_ptr<Ledger> open(std::unique_ptr<Store> store, const Options& options);

  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Applies a batch in ONE SQL transaction: journal entries, customer state, consumed
  // offsets and the outbox rows. Records are handled in order; a bad record becomes a
  // Rejection and the batch goes on. Idempotent: a replayed record (offset below the stored
  // resume point) or a repeated event_id changes nothing. Rejected records advance the
  // offset too (the caller must publish ApplyResult::rejected to the DLQ after the commit).
  // Postcondition: the trial balance is zero (otherwise std::logic_error and nothing stored).
  // `owned`: the partitions this instance owns, as its consumer stands after the batch;
  // idle ones are marked in the same transaction (Options::idle_partition_after). Empty:
  // no idle marks.
  // `confirm`, when set, is asked for each partition about to be marked (it may ask the
  // broker whether the partition still ends at next_offset); false: not marked.
  using ConfirmFn = std::function<bool(const OwnedPartition&)>;
  ApplyResult apply(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned = {},
                    const ConfirmFn& confirm = {});

  // Without a batch: when an idle partition among `owned` is due a mark (see apply()),
  // runs apply() with no records (one transaction; `confirm` may still refuse it) and
  // returns true; otherwise touches nothing. (The service marks after batches only.)
  bool mark_idle(std::span<const OwnedPartition> owned, const ConfirmFn& confirm = {});

  // Pipelined (Options::pipeline): waits until every batch apply() handed over is
  // committed, and rethrows a failed commit. Otherwise returns at once.
  void sync();

  // Where to resume a partition: last applied offset + 1; nullopt when never seen.
  std::optional<int64_t> next_offset(std::string_view topic, int32_t partition) const;

  // Drops every cache and rereads offsets, balances and deferred keys from the store. Call
  // it when partitions are (re)assigned while other instances share the database: another
  // instance may have applied this partition's records since this one last owned it, and
  // next_offset() must come from the store, not from memory. Throws on a storage failure.
  void refresh();

  // Oldest first. ack_outbox deletes the rows with id <= up_to_id among those the last
  // pending_outbox() call returned (relayed to Kafka). With several instances on one
  // PostgreSQL database any of them may relay any row (at least once; readers drop stale
  // snapshot versions), and a row committed late with a smaller id is never acked unseen.
  std::vector<OutboxMessage> pending_outbox(size_t limit) const;
  void ack_outbox(int64_t up_to_id);

  // The account with ageing and payment behaviour computed as of `now`; as_of = now.
  // nullopt for a customer the ledger never saw.
  std::optional<v1::AccountSnapshot> account(std::string_view customer_id, absl::Time now) const;

  // Journal entries of a customer in posting order, with event_time in [from, to) (unset:
  // unbounded). opening/closing balances are the receivable from the entries with
  // event_time before `from` / before `to`. Page size 0 means 100, capped at 1000.
  // Throws NotFound for an unknown customer, InvalidArgument for a bad page token.
  v1::GetStatementResponse statement(const v1::GetStatementRequest& request) const;

  // Open invoices (issued by as_of) by days past due as of `as_of`. Open amounts are the
  // current ones (not reconstructed for a past as_of). Throws NotFound.
  v1::Ageing ageing(std::string_view customer_id, absl::Time as_of) const;

  // Per account and currency, read from the store (so with a shared database it covers
  // every instance); balanced when debits equal credits in every currency.
  v1::TrialBalance trial_balance() const;

  // Events waiting for a sale (or invoice) not seen yet.
  int64_t deferred_count() const;

  // Gives up on deferred events whose wait started before `older_than` (the wait starts at
  // the event's received_time, else its event_time) and returns them as Rejections:
  // "sale s-9 never arrived before 2024-03-08T00:00:00Z". One transaction; a later copy of
  // such an event is considered afresh.
  std::vector<Rejection> expire_deferred(absl::Time older_than);
  // Same with older_than = now - max_wait: "sale s-9 never arrived within 7 days".
  std::vector<Rejection> expire_deferred(absl::Time now, absl::Duration max_wait);

 private:
  class Impl;
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tierflow::ledger
