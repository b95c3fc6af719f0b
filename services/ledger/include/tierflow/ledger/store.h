// The ledger's narrow storage interface: what the domain core needs from a SQL store and
// nothing more, so the SQLite and PostgreSQL backends sit behind the same calls. It is
// batch-shaped: the core reads what a batch needs in a few calls before processing it and
// hands every change of the transaction over in one write(), so a networked backend costs
// a handful of round trips per batch, not several per event.
//
// Contract for every backend:
// - Threading: used by one thread at a time. A pipelined Ledger calls it from two threads
//   (the writer's and the caller's) and holds a mutex around every call, or one for the
//   writes and one for the rest when reads_beside_writes(). Reads may then come between
//   the write() calls of an open transaction.
// - Writes happen only between begin() and commit()/rollback(); reads may happen inside a
//   transaction (they see its own writes) or outside (they see committed data).
// - Every method may throw on a storage failure (sql::Error for SQLite, pqxx exceptions,
//   all derived from std::exception); after a throw inside a transaction the caller calls
//   rollback().
// - Times are UTC unix microseconds; money is int64 minor units.
#pragma once

#include <absl/container/btree_map.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tierflow::ledger {

struct OutboxMessage;

using Micros = int64_t;  // UTC unix microseconds
// "No event time seen yet" (OffsetRow::max_event_time).
inline constexpr Micros kNoEventTime = INT64_MIN;

enum class EventKind : int32_t { sale = 1, refund = 2, payment = 3, feedback = 4, deferred = 5 };

// One row per event_id ever applied or deferred: the duplicate check, and for sales what
// a refund needs (total, refunded so far, cost).
struct EventRow {
  std::string event_id;
  std::string customer_id;
  EventKind kind = EventKind::sale;
  Micros event_time = 0;
  int64_t amount = 0;    // sale total, refund or payment amount
  int64_t refunded = 0;  // sales: refunded so far
  int64_t cost = -1;     // sales: cost of goods when known, else -1
  std::string currency;
};

// An on-account part of a sale: money the customer owes, due at `due`.
struct Invoice {
  std::string sale_event_id;
  Micros issued = 0;
  Micros due = 0;
  int64_t amount = 0;
  int64_t open = 0;               // still owed
  std::optional<Micros> closed;   // when open reached zero
  bool closed_by_payment = false; // false: closed by a credit (refund on account)
  bool dirty = false;             // changed in the current batch (not stored)
};

struct MonthTotals {
  int64_t sales = 0, refunds = 0, gross_profit = 0, orders = 0, refund_count = 0;
};

// A customer's running account: everything the snapshot needs except what is derived
// (ageing, payment behaviour). Persisted once per batch in which it changed.
struct CustomerState {
  std::string customer_id;
  std::string currency;  // the first money event's; empty until then
  int64_t version = 0;
  int64_t journal_seq = 0;  // last journal sequence number of this customer
  Micros last_event_time = 0;
  int64_t receivable = 0, credit = 0;
  int64_t lifetime_sales = 0, lifetime_refunds = 0, lifetime_gross_profit = 0;
  int64_t lifetime_orders = 0, lifetime_payments = 0;
  std::optional<Micros> first_purchase, last_purchase;
  absl::btree_map<int32_t, MonthTotals> months;  // key: year * 12 + (month - 1); last 24 kept
  int32_t feedback_count = 0, promoters = 0, passives = 0, detractors = 0;
  int64_t feedback_score_sum = 0;
  std::optional<Micros> feedback_last;
  // Open invoices and those closed within the payment-behaviour window (about 13 months
  // before last_event_time); older closed ones stay in the store only.
  std::vector<Invoice> invoices;
  // Every event of the customer in the evaluation day that holds last_event_time (its
  // snapshot clock) was a backfill (PosEvent.backfill): AccountSnapshot.backfill.
  bool backfill = false;
  uint64_t batch = 0;  // in memory only: the Ledger's number of the last batch that changed it
  bool stored = false;  // in memory only: the store has its row (load_customers() sets it)
};

struct JournalRow {
  std::string customer_id;
  int64_t seq = 0;
  Micros event_time = 0;
  int64_t receivable_delta = 0;
  std::string entry;  // serialized v1::JournalEntry
};

struct DeferredRow {
  std::string event_id;
  std::string waiting_for;  // the sale event id it needs
  std::string customer_id;
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  Micros since = 0;
  std::string value;  // the original record bytes
};

struct OffsetRow {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;
  // The newest event time among the partition's records before next_offset (the
  // partition watermark's base, stored with the offset), or what an idle mark raised it to
  // (its watermark + allowed_lateness; README, "Idle partitions"); kNoEventTime when none.
  Micros max_event_time = kNoEventTime;
};

struct BalanceRow {
  std::string account, currency;
  int64_t debit = 0, credit = 0;
};

// A row of the transactional outbox: an account snapshot for ledger.accounts.v1, or a
// rejected record for the DLQ, written in the transaction that produced it.
struct OutboxRow {
  std::string topic;        // destination topic
  std::string customer_id;  // record key
  std::string payload;      // serialized v1::AccountSnapshot or v1::LedgerWatermark, or the
                            // rejected record's bytes
  std::string error;        // DLQ rows: the reason; empty for snapshots
  // Snapshots: the snapshot's as_of. version > 0: the customer's version, and a store may
  // keep (version, as_of) instead of the payload and rebuild it from the customer's stored
  // state (a snapshot whose version is no longer the customer's is then superseded and
  // skipped). version 0: the payload is kept and relayed as it is (DLQ and watermark rows,
  // and snapshots a rebuild could not reproduce).
  int64_t version = 0;
  Micros as_of = 0;
  // DLQ rows: where the rejected record was, "topic/partition@offset" (the
  // kafka::kOriginHeader of its DLQ record); empty for snapshots.
  std::string origin{};
};

// A changed customer as stored: the state row and the invoices the transaction changed.
// Values, not references to the live state: a batch may still be written while the next
// one is processed (Options::pipeline).
struct CustomerRow {
  std::string customer_id;
  int64_t version = 0;
  int64_t journal_seq = 0;
  int64_t feedback_score_sum = 0;
  Micros last_event_time = 0;
  std::string state;              // encode_state() of the customer
  std::vector<Invoice> invoices;  // only the ones changed in this transaction
  // The store held the row before this transaction (a backend may UPDATE it rather than
  // upsert; it must then fail when the row is missing). False: it may or may not.
  bool stored = false;
};

// Everything one transaction changes, handed to the store in one or more write() calls so
// a backend can write it with a few batched statements. Every list holds each key at most
// once (over all the calls of one transaction).
struct Changes {
  std::vector<OffsetRow> offsets;             // upserted
  std::vector<EventRow> events;               // inserted or replaced
  std::vector<std::string> deleted_events;    // none of them in `events`
  std::vector<CustomerRow> customers;         // state row upserted + its invoices
  std::vector<JournalRow> journal;            // inserted (customer_id, seq new)
  std::vector<DeferredRow> deferred;          // inserted
  std::vector<std::string> deleted_deferred;  // event ids
  std::vector<OutboxRow> outbox;              // appended in this order
  // Per account and currency: what this transaction ADDS to debit and credit. Deltas, not
  // totals, so instances sharing one database never overwrite each other's postings.
  std::vector<BalanceRow> balances;

  bool empty() const {
    return offsets.empty() && events.empty() && deleted_events.empty() && customers.empty() &&
           journal.empty() && deferred.empty() && deleted_deferred.empty() && outbox.empty() &&
           balances.empty();
  }
  size_t rows() const {
    return offsets.size() + events.size() + deleted_events.size() + customers.size() +
           journal.size() + deferred.size() + deleted_deferred.size() + outbox.size() +
           balances.size();
  }
};

class Store {
 public:
  virtual ~Store() = default;

  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;

  // --- reads (inside a transaction they see what it wrote; outside, committed data) ---
  virtual std::vector<OffsetRow> load_offsets() = 0;
  virtual std::vector<BalanceRow> load_balances() = 0;
  // waiting_for of every deferred row (one entry per row).
  virtual std::vector<std::string> deferred_keys() = 0;

  // The stored rows among `ids` (any order; unknown ids are left out; ids may repeat).
  virtual std::vector<EventRow> find_events(const std::vector<std::string_view>& ids) = 0;
  // The states of the known customers among `ids` (unique), each with its invoices: open
  // ones and those closed at or after the state's last_event_time - closed_window.
  virtual std::vector<CustomerState> load_customers(const std::vector<std::string_view>& ids,
                                                    Micros closed_window) = 0;
  // Rows waiting for `waiting_for`, by (partition, offset).
  virtual std::vector<DeferredRow> load_deferred(std::string_view waiting_for) = 0;
  // Rows with since < `before`, by since.
  virtual std::vector<DeferredRow> load_deferred_before(Micros before) = 0;

  // Rows with event_time in [from, to) and seq > after_seq, by seq, at most `limit`.
  virtual std::vector<JournalRow> read_journal(std::string_view customer_id, Micros from,
                                               Micros to, int64_t after_seq, size_t limit) = 0;
  // Sum of receivable_delta over rows with event_time < before.
  virtual int64_t receivable_before(std::string_view customer_id, Micros before) = 0;

  // Oldest first, at most `limit`.
  virtual std::vector<OutboxMessage> pending_outbox(size_t limit) = 0;
  // What pending_outbox() would return, when the store knows it from memory: only rows
  // committed, oldest first, at most `limit`, without reading the database. std::nullopt
  // when it does not know (then the caller waits for the open transaction to end and
  // calls pending_outbox()). May be called while a transaction is open.
  virtual std::optional<std::vector<OutboxMessage>> committed_outbox(size_t limit);  // nullopt

  // --- writes ---
  // Only between begin() and commit(). Applies the changes; a transaction may call it
  // several times with parts of its changes (the union holds each key at most once).
  virtual void write(const Changes& changes) = 0;
  // Deletes outbox rows with id <= up_to_id that pending_outbox() or committed_outbox()
  // returned: its own transaction, or the open one when called between begin() and
  // commit() (a rollback then leaves the rows to be relayed again).
  virtual void ack_outbox(int64_t up_to_id) = 0;

  // True when reads, pending_outbox(), committed_outbox() and ack_outbox() use a connection
  // of their own (seeing committed data only), so they may run on one thread while
  // begin()/write()/commit()/rollback() run on another. False: one connection, one call
  // at a time.
  virtual bool reads_beside_writes() const { return false; }
};

// The SQLite backend (WAL, WITHOUT ROWID tables). Creates the schema if missing. Throws
// sql::Error.
std::unique_ptr<Store> make_sqlite_store(const std::string& path);

// The PostgreSQL backend (libpqxx, one connection). `url` is a libpq connection string
// ("postgresql://user@host:port/db" or "host=... dbname=..."). Creates the schema if
// missing (safe when several instances start at once). Several ledger instances may share
// one database when each owns its own partitions (and so its customers and events):
// offsets are keyed by topic and partition, rows by customer or event id, and the shared
// balance rows are moved by deltas. Throws (pqxx::broken_connection, a std::runtime_error)
// when the server cannot be reached.
std::unique_ptr<Store> make_postgres_store(const std::string& url);

}  // namespace tierflow::ledger
