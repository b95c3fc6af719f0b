// The ledger's narrow storage interface: what the domain core needs from a SQL store and
// nothing more, so an SQLite and (later) a PostgreSQL backend sit behind the same calls.
//
// Contract for every backend:
// - Threading: used by one thread at a time (the Ledger's).
// - Writes happen only between begin() and commit()/rollback(); reads may happen inside a
//   transaction (they see its own writes) or outside (they see committed data).
// - Every method may throw on a storage failure (sql::Error for SQLite); after a throw
//   inside a transaction the caller calls rollback().
// - Times are UTC unix microseconds; money is int64 minor units.
#pragma once

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
  std::map<int32_t, MonthTotals> months;  // key: year * 12 + (month - 1); last 24 kept
  int32_t feedback_count = 0, promoters = 0, passives = 0, detractors = 0;
  int64_t feedback_score_sum = 0;
  std::optional<Micros> feedback_last;
  // Open invoices and those closed within the payment-behaviour window (about 13 months
  // before last_event_time); older closed ones stay in the store only.
  std::vector<Invoice> invoices;
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
};

struct BalanceRow {
  std::string account, currency;
  int64_t debit = 0, credit = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;

  virtual std::vector<OffsetRow> load_offsets() = 0;
  virtual void save_offset(const OffsetRow& row) = 0;

  virtual std::optional<EventRow> find_event(std::string_view event_id) = 0;
  virtual void insert_event(const EventRow& row) = 0;
  virtual void update_refunded(std::string_view event_id, int64_t refunded) = 0;
  virtual void delete_event(std::string_view event_id) = 0;

  // Loads the state and its invoices: open ones and those closed at or after the state's
  // last_event_time - closed_window. nullopt for an unknown customer.
  virtual std::optional<CustomerState> load_customer(std::string_view customer_id,
                                                     Micros closed_window) = 0;
  // Writes the state row, and the invoices marked dirty.
  virtual void save_customer(const CustomerState& state) = 0;

  virtual void insert_journal(const JournalRow& row) = 0;
  // Rows with event_time in [from, to) and seq > after_seq, by seq, at most `limit`.
  virtual std::vector<JournalRow> read_journal(std::string_view customer_id, Micros from,
                                               Micros to, int64_t after_seq, size_t limit) = 0;
  // Sum of receivable_delta over rows with event_time < before.
  virtual int64_t receivable_before(std::string_view customer_id, Micros before) = 0;

  virtual void insert_deferred(const DeferredRow& row) = 0;
  // Removes and returns the rows waiting for `waiting_for`, oldest offset first.
  virtual std::vector<DeferredRow> take_deferred(std::string_view waiting_for) = 0;
  // Removes and returns the rows with since < `before`.
  virtual std::vector<DeferredRow> take_deferred_before(Micros before) = 0;
  // waiting_for of every deferred row (one entry per row).
  virtual std::vector<std::string> deferred_keys() = 0;

  virtual void insert_outbox(std::string_view customer_id, std::string_view payload) = 0;
  virtual std::vector<OutboxMessage> pending_outbox(size_t limit) = 0;
  virtual void ack_outbox(int64_t up_to_id) = 0;

  virtual std::vector<BalanceRow> load_balances() = 0;
  virtual void save_balance(const BalanceRow& row) = 0;
};

// The SQLite backend (WAL, WITHOUT ROWID tables). Creates the schema if missing.
std::unique_ptr<Store> make_sqlite_store(const std::string& path);

}  // namespace tierflow::ledger
