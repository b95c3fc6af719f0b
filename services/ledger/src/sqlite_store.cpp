// The SQLite backend of the ledger store. Keys are WITHOUT ROWID primary keys (see
// BASELINES.md), except the journal: its rows are appended in rowid order (a batch's
// entries scatter over every customer, and a (customer_id, seq) clustered key would
// rewrite most of the table's pages per batch) with a small (customer_id, seq) index.
// Files created with the older clustered journal keep it; every query works on both.
// Every statement is prepared once at open and reused; large row sets go in multi-row
// INSERTs, in key order (the Ledger sorts a transaction's rows, see sort_by_key), so each
// index is walked once per batch instead of hit at random.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sqlite_support.h"
#include "state.h"
#include "tierflow/ledger/ledger.h"
#include "tierflow/ledger/store.h"
#include "tierflow/sql/checkpointer.h"
#include "tierflow/sql/sqlite.h"

namespace tierflow::ledger {
namespace {

using sql::sqlite::Db;
using sql::sqlite::Statement;
using sql::sqlite::Checkpointer;
using sqlite_support::IdFilter;
using sqlite_support::insert_rows;
using sqlite_support::kRowsPerInsert;
using sqlite_support::values_sql;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS offsets(
  topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL,
  max_event_time INTEGER NOT NULL DEFAULT -9223372036854775808,
  PRIMARY KEY(topic, part)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
  event_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, kind INTEGER NOT NULL,
  event_time INTEGER NOT NULL, amount INTEGER NOT NULL, refunded INTEGER NOT NULL,
  cost INTEGER NOT NULL, currency TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS customers(
  customer_id TEXT PRIMARY KEY, version INTEGER NOT NULL, journal_seq INTEGER NOT NULL,
  feedback_sum INTEGER NOT NULL, state BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invoices(
  customer_id TEXT NOT NULL, sale_event_id TEXT NOT NULL, issued INTEGER NOT NULL,
  due INTEGER NOT NULL, amount INTEGER NOT NULL, open_amount INTEGER NOT NULL,
  closed INTEGER, closed_by_payment INTEGER NOT NULL,
  PRIMARY KEY(customer_id, sale_event_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal(
  id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, seq INTEGER NOT NULL,
  event_time INTEGER NOT NULL, receivable_delta INTEGER NOT NULL, entry BLOB NOT NULL,
  UNIQUE(customer_id, seq));
CREATE TABLE IF NOT EXISTS deferred(
  event_id TEXT PRIMARY KEY, waiting_for TEXT NOT NULL, customer_id TEXT NOT NULL,
  topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL, since INTEGER NOT NULL,
  value BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deferred_by_waiting ON deferred(waiting_for);
CREATE INDEX IF NOT EXISTS deferred_by_since ON deferred(since);
CREATE TABLE IF NOT EXISTS outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, customer_id TEXT NOT NULL,
  payload BLOB NOT NULL, error TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 0,
  as_of INTEGER NOT NULL DEFAULT 0, origin TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS balances(
  account TEXT NOT NULL, currency TEXT NOT NULL, debit INTEGER NOT NULL,
  credit INTEGER NOT NULL, PRIMARY KEY(account, currency)) WITHOUT ROWID;
)sql";

DeferredRow read_deferred(const Statement& s) {
  DeferredRow r;
  r.event_id = s.column_text(0);
  r.waiting_for = s.column_text(1);
  r.customer_id = s.column_text(2);
  r.topic = s.column_text(3);
  r.partition = static_cast<int32_t>(s.column_int64(4));
  r.offset = s.column_int64(5);
  r.since = s.column_int64(6);
  r.value = s.column_blob(7);
  return r;
}

constexpr std::string_view kDeferredColumns =
    "event_id, waiting_for, customer_id, topic, part, off, since, value";

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::string& path) : db_(Db::open(path)) {
    db_.exec(kSchema);
    migrate();
    if (path != ":memory:" && !path.empty()) checkpointer_.emplace(path, db_);
    load_offsets_ = db_.prepare("SELECT topic, part, next_offset, max_event_time FROM offsets");
    save_offset_ = db_.prepare(
        "INSERT INTO offsets(topic, part, next_offset, max_event_time) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(topic, part) DO UPDATE SET next_offset = excluded.next_offset, "
        "max_event_time = excluded.max_event_time");
    all_event_ids_ = db_.prepare("SELECT event_id FROM events");
    data_version_ = db_.prepare("PRAGMA data_version");
    find_event_ = db_.prepare(
        "SELECT customer_id, kind, event_time, amount, refunded, cost, currency "
        "FROM events WHERE event_id = ?1");
    constexpr std::string_view kInsertEvent =
        "INSERT OR REPLACE INTO events(event_id, customer_id, kind, event_time, amount, refunded, "
        "cost, currency)";
    insert_event_ = db_.prepare(values_sql(kInsertEvent, 8, 1));
    insert_events_ = db_.prepare(values_sql(kInsertEvent, 8, kRowsPerInsert));
    delete_event_ = db_.prepare("DELETE FROM events WHERE event_id = ?1");
    load_customer_ = db_.prepare(
        "SELECT version, journal_seq, feedback_sum, state FROM customers WHERE customer_id = ?1");
    load_invoices_ = db_.prepare(
        "SELECT sale_event_id, issued, due, amount, open_amount, closed, closed_by_payment "
        "FROM invoices WHERE customer_id = ?1 AND (closed IS NULL OR closed >= ?2)");
    constexpr std::string_view kSaveCustomer =
        "INSERT OR REPLACE INTO customers(customer_id, version, journal_seq, feedback_sum, state)";
    save_customer_ = db_.prepare(values_sql(kSaveCustomer, 5, 1));
    save_customers_ = db_.prepare(values_sql(kSaveCustomer, 5, kRowsPerInsert));
    save_invoice_ = db_.prepare(
        "INSERT OR REPLACE INTO invoices(customer_id, sale_event_id, issued, due, amount, "
        "open_amount, closed, closed_by_payment) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    constexpr std::string_view kInsertJournal =
        "INSERT INTO journal(customer_id, seq, event_time, receivable_delta, entry)";
    insert_journal_ = db_.prepare(values_sql(kInsertJournal, 5, 1));
    insert_journals_ = db_.prepare(values_sql(kInsertJournal, 5, kRowsPerInsert));
    read_journal_ = db_.prepare(
        "SELECT seq, event_time, receivable_delta, entry FROM journal WHERE customer_id = ?1 "
        "AND seq > ?4 AND event_time >= ?2 AND event_time < ?3 ORDER BY seq LIMIT ?5");
    receivable_before_ = db_.prepare(
        "SELECT COALESCE(SUM(receivable_delta), 0) FROM journal "
        "WHERE customer_id = ?1 AND event_time < ?2");
    insert_deferred_ = db_.prepare(
        "INSERT INTO deferred(event_id, waiting_for, customer_id, topic, part, off, since, value) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    select_deferred_ = db_.prepare("SELECT " + std::string(kDeferredColumns) +
                                   " FROM deferred WHERE waiting_for = ?1 ORDER BY part, off");
    delete_deferred_ = db_.prepare("DELETE FROM deferred WHERE event_id = ?1");
    select_deferred_before_ = db_.prepare("SELECT " + std::string(kDeferredColumns) +
                                          " FROM deferred WHERE since < ?1 ORDER BY since");
    deferred_keys_ = db_.prepare("SELECT waiting_for FROM deferred");
    // Multi-row VALUES insert in order, so ids follow the order of Changes::outbox.
    constexpr std::string_view kInsertOutbox =
        "INSERT INTO outbox(topic, customer_id, payload, error, version, as_of, origin)";
    insert_outbox_ = db_.prepare(values_sql(kInsertOutbox, 7, 1));
    insert_outboxes_ = db_.prepare(values_sql(kInsertOutbox, 7, kRowsPerInsert));
    pending_outbox_ = db_.prepare(
        "SELECT id, customer_id, payload, topic, error, version, as_of, origin FROM outbox ORDER BY id");
    ack_outbox_ = db_.prepare("DELETE FROM outbox WHERE id <= ?1");
    load_balances_ = db_.prepare("SELECT account, currency, debit, credit FROM balances");
    add_balance_ = db_.prepare(
        "INSERT INTO balances(account, currency, debit, credit) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(account, currency) DO UPDATE SET debit = debit + excluded.debit, "
        "credit = credit + excluded.credit");
  }

  void begin() override {
    staged_outbox_.clear();
    db_.exec("BEGIN IMMEDIATE");
  }
  void commit() override {
    try {
      db_.exec("COMMIT");
    } catch (...) {
      staged_outbox_.clear();
      outbox_known_ = false;
      throw;
    }
    if (outbox_known_) {
      for (auto& m : staged_outbox_) outbox_cache_.push_back(std::move(m));
      if (outbox_cache_.size() > kMaxCachedOutbox) drop_outbox_cache();
    }
    staged_outbox_.clear();
  }
  void rollback() noexcept override {
    staged_outbox_.clear();
    drop_outbox_cache();  // an ack_outbox() inside the transaction may have popped rows
    try {
      if (db_.in_transaction()) db_.exec("ROLLBACK");
    } catch (const sql::Error&) {
      // SQLite already rolled back when ROLLBACK itself fails.
    }
  }

  std::vector<OffsetRow> load_offsets() override {
    std::vector<OffsetRow> out;
    while (load_offsets_.step()) {
      out.push_back({std::string(load_offsets_.column_text(0)),
                     static_cast<int32_t>(load_offsets_.column_int64(1)),
                     load_offsets_.column_int64(2), load_offsets_.column_int64(3)});
    }
    load_offsets_.reset();
    return out;
  }

  std::vector<EventRow> find_events(const std::vector<std::string_view>& ids) override {
    std::vector<EventRow> out;
    // In key order: consecutive lookups walk neighbouring B-tree pages.
    std::vector<std::string_view> sorted(ids);
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    const IdFilter& filter = stored_ids();
    for (auto id : sorted) {
      if (!filter.may_contain(id)) continue;  // certainly not stored: no B-tree lookup
      find_event_.bind_text(1, id);
      if (find_event_.step()) {
        EventRow r;
        r.event_id = id;
        r.customer_id = find_event_.column_text(0);
        r.kind = static_cast<EventKind>(find_event_.column_int64(1));
        r.event_time = find_event_.column_int64(2);
        r.amount = find_event_.column_int64(3);
        r.refunded = find_event_.column_int64(4);
        r.cost = find_event_.column_int64(5);
        r.currency = find_event_.column_text(6);
        out.push_back(std::move(r));
      }
      find_event_.reset();
    }
    return out;
  }

  std::vector<CustomerState> load_customers(const std::vector<std::string_view>& ids,
                                            Micros closed_window) override {
    std::vector<CustomerState> out;
    for (auto id : ids) {
      if (auto s = load_customer(id, closed_window)) out.push_back(std::move(*s));
    }
    return out;
  }

  std::vector<DeferredRow> load_deferred(std::string_view waiting_for) override {
    std::vector<DeferredRow> out;
    select_deferred_.bind_text(1, waiting_for);
    while (select_deferred_.step()) out.push_back(read_deferred(select_deferred_));
    select_deferred_.reset();
    return out;
  }

  std::vector<DeferredRow> load_deferred_before(Micros before) override {
    std::vector<DeferredRow> out;
    select_deferred_before_.bind_int64(1, before);
    while (select_deferred_before_.step()) out.push_back(read_deferred(select_deferred_before_));
    select_deferred_before_.reset();
    return out;
  }

  std::vector<std::string> deferred_keys() override {
    std::vector<std::string> out;
    while (deferred_keys_.step()) out.emplace_back(deferred_keys_.column_text(0));
    deferred_keys_.reset();
    return out;
  }

  std::vector<JournalRow> read_journal(std::string_view customer_id, Micros from, Micros to,
                                       int64_t after_seq, size_t limit) override {
    read_journal_.bind_text(1, customer_id)
        .bind_int64(2, from)
        .bind_int64(3, to)
        .bind_int64(4, after_seq)
        .bind_int64(5, static_cast<int64_t>(limit));
    std::vector<JournalRow> out;
    while (read_journal_.step()) {
      JournalRow r;
      r.customer_id = customer_id;
      r.seq = read_journal_.column_int64(0);
      r.event_time = read_journal_.column_int64(1);
      r.receivable_delta = read_journal_.column_int64(2);
      r.entry = read_journal_.column_blob(3);
      out.push_back(std::move(r));
    }
    read_journal_.reset();
    return out;
  }

  int64_t receivable_before(std::string_view customer_id, Micros before) override {
    receivable_before_.bind_text(1, customer_id).bind_int64(2, before);
    int64_t v = receivable_before_.step() ? receivable_before_.column_int64(0) : 0;
    receivable_before_.reset();
    return v;
  }

  std::vector<OutboxMessage> pending_outbox(size_t limit) override {
    if (auto cached = committed_outbox(limit)) return std::move(*cached);
    if (handed_out_ > 0) drop_outbox_cache();
    const int64_t version = data_version();
    std::vector<OutboxMessage> out;
    bool to_the_end = true;
    while (pending_outbox_.step()) {
      if (out.size() == limit) {
        to_the_end = false;
        break;
      }
      OutboxMessage m;
      m.id = pending_outbox_.column_int64(0);
      m.customer_id = pending_outbox_.column_text(1);
      m.topic = pending_outbox_.column_text(3);
      m.error = pending_outbox_.column_text(4);
      m.origin = pending_outbox_.column_text(7);
      if (const int64_t snapshot_version = pending_outbox_.column_int64(5); snapshot_version > 0) {
        auto payload = rebuild_snapshot(m.customer_id, snapshot_version, pending_outbox_.column_int64(6));
        if (!payload) continue;  // superseded: a later row carries the customer's newer version
        m.payload = std::move(*payload);
      } else {
        m.payload = pending_outbox_.column_blob(2);
      }
      out.push_back(std::move(m));
    }
    pending_outbox_.reset();
    if (to_the_end && !db_.in_transaction()) {
      // The whole table, as of `version`: serve the next calls from memory.
      outbox_cache_.assign(out.begin(), out.end());
      outbox_known_ = true;
      outbox_version_ = version;
    }
    return out;
  }

  // Served from the cache only: it holds committed rows (commit() adds the staged ones).
  std::optional<std::vector<OutboxMessage>> committed_outbox(size_t limit) override {
    if (handed_out_ > 0 || !outbox_cache_valid()) return std::nullopt;
    // The rows are moved out, not copied: until ack_outbox() removes them their cache
    // entries hold only ids, and a repeated read (no ack between) goes to the table.
    const size_t n = std::min(limit, outbox_cache_.size());
    std::vector<OutboxMessage> out(std::make_move_iterator(outbox_cache_.begin()),
                                   std::make_move_iterator(outbox_cache_.begin() + static_cast<std::ptrdiff_t>(n)));
    for (size_t i = 0; i < n; ++i) outbox_cache_[i].id = out[i].id;
    handed_out_ = n;
    return out;
  }

  void ack_outbox(int64_t up_to_id) override {
    const bool valid = outbox_cache_valid();
    ack_outbox_.bind_int64(1, up_to_id);
    ack_outbox_.run();
    if (!valid) {
      drop_outbox_cache();
      return;
    }
    while (!outbox_cache_.empty() && outbox_cache_.front().id <= up_to_id) {
      outbox_cache_.pop_front();
      if (handed_out_ > 0) --handed_out_;
    }
    if (handed_out_ > 0) drop_outbox_cache();  // some moved-out rows stay unacknowledged
  }

  std::vector<BalanceRow> load_balances() override {
    std::vector<BalanceRow> out;
    while (load_balances_.step()) {
      out.push_back({std::string(load_balances_.column_text(0)),
                     std::string(load_balances_.column_text(1)), load_balances_.column_int64(2),
                     load_balances_.column_int64(3)});
    }
    load_balances_.reset();
    return out;
  }

  void write(const Changes& c) override {
    for (const auto& row : c.offsets) {
      save_offset_.bind_text(1, row.topic)
          .bind_int64(2, row.partition)
          .bind_int64(3, row.next_offset)
          .bind_int64(4, row.max_event_time);
      save_offset_.run();
    }
    for (const auto& id : c.deleted_events) {
      delete_event_.bind_text(1, id);
      delete_event_.run();
    }
    insert_rows(insert_events_, insert_event_, 8, c.events.size(), [&](sql::sqlite::Statement& s, int p, size_t i) {
      const EventRow& r = c.events[i];
      if (filter_) filter_->add(r.event_id);  // before the commit: a rollback leaves only a false positive
      s.bind_text_view(p, r.event_id)
          .bind_text_view(p + 1, r.customer_id)
          .bind_int64(p + 2, static_cast<int64_t>(r.kind))
          .bind_int64(p + 3, r.event_time)
          .bind_int64(p + 4, r.amount)
          .bind_int64(p + 5, r.refunded)
          .bind_int64(p + 6, r.cost)
          .bind_text_view(p + 7, r.currency);
    });
    save_customers(c);
    insert_rows(insert_journals_, insert_journal_, 5, c.journal.size(), [&](sql::sqlite::Statement& s, int p, size_t i) {
      const JournalRow& r = c.journal[i];
      s.bind_text_view(p, r.customer_id)
          .bind_int64(p + 1, r.seq)
          .bind_int64(p + 2, r.event_time)
          .bind_int64(p + 3, r.receivable_delta)
          .bind_blob_view(p + 4, r.entry);
    });
    for (const auto& id : c.deleted_deferred) {
      delete_deferred_.bind_text(1, id);
      delete_deferred_.run();
    }
    for (const auto& r : c.deferred) {
      insert_deferred_.bind_text(1, r.event_id)
          .bind_text(2, r.waiting_for)
          .bind_text(3, r.customer_id)
          .bind_text(4, r.topic)
          .bind_int64(5, r.partition)
          .bind_int64(6, r.offset)
          .bind_int64(7, r.since)
          .bind_blob(8, r.value);
      insert_deferred_.run();
    }
    // A snapshot row keeps (version, as_of), not the payload: the customer's state row,
    // written in the same transaction, rebuilds it (rebuild_snapshot) when the relay reads
    // the table; the memory cache serves the payload itself.
    insert_rows(insert_outboxes_, insert_outbox_, 7, c.outbox.size(), [&](sql::sqlite::Statement& s, int p, size_t i) {
      const OutboxRow& r = c.outbox[i];
      s.bind_text_view(p, r.topic)
          .bind_text_view(p + 1, r.customer_id)
          .bind_blob_view(p + 2, r.version > 0 ? std::string_view("", 0) : std::string_view(r.payload))
          .bind_text_view(p + 3, r.error)
          .bind_int64(p + 4, r.version)
          .bind_int64(p + 5, r.as_of)
          .bind_text_view(p + 6, r.origin);
    });
    if (outbox_known_ && !c.outbox.empty()) {
      // AUTOINCREMENT ids of one statement's rows are consecutive, and every statement
      // above ran in order: the last row's id is last_insert_rowid(), the others precede it.
      int64_t id = db_.last_insert_rowid() - static_cast<int64_t>(c.outbox.size());
      for (const OutboxRow& r : c.outbox) {
        OutboxMessage m;
        m.id = ++id;
        m.customer_id = r.customer_id;
        m.payload = r.payload;
        m.topic = r.topic;
        m.error = r.error;
        m.origin = r.origin;
        staged_outbox_.push_back(std::move(m));
      }
    }
    for (const auto& r : c.balances) {
      add_balance_.bind_text(1, r.account)
          .bind_text(2, r.currency)
          .bind_int64(3, r.debit)
          .bind_int64(4, r.credit);
      add_balance_.run();
    }
  }

 private:
  // The outbox rows this process wrote are served from memory by pending_outbox() (still
  // stored, in the same transaction, for crash recovery and for other instances). The
  // cache holds the whole table once a pending_outbox() read it to its end; it is dropped
  // when another connection committed since (PRAGMA data_version), or when it grows large.
  static constexpr size_t kMaxCachedOutbox = 200'000;

  int64_t data_version() {
    int64_t version = data_version_.step() ? data_version_.column_int64(0) : -1;
    data_version_.reset();
    return version;
  }
  bool outbox_cache_valid() {
    if (!outbox_known_) return false;
    if (data_version() != outbox_version_) drop_outbox_cache();
    return outbox_known_;
  }
  void drop_outbox_cache() {
    outbox_known_ = false;
    handed_out_ = 0;
    outbox_cache_.clear();
  }

  // The snapshot of `customer_id` at `version` as of `as_of`, rebuilt from the stored state
  // (it holds the invoices the snapshot showed: see Ledger's flush); nullopt when the
  // stored state has moved past that version.
  std::optional<std::string> rebuild_snapshot(const std::string& customer_id, int64_t version,
                                              Micros as_of) {
    auto state = load_customer(customer_id, kClosedInvoiceWindow);
    if (!state || state->version != version) return std::nullopt;
    return build_snapshot(*state, as_of).SerializeAsString();
  }

  // Files made before the outbox kept (version, as_of) get the columns; their rows keep
  // payloads (version 0). Files made before it kept origins get the column; their DLQ rows
  // have none (published without the origin header). Files made before the offsets kept
  // the newest event time get the column: their partitions' watermarks start afresh.
  void migrate() {
    auto has_column = [&](std::string_view name, std::string_view table = "outbox") {
      auto columns = db_.prepare("SELECT count(*) FROM pragma_table_info(?2) WHERE name = ?1");
      columns.bind_text(1, name).bind_text(2, table);
      return columns.step() && columns.column_int64(0) > 0;
    };
    if (!has_column("max_event_time", "offsets")) {
      db_.exec("ALTER TABLE offsets ADD COLUMN max_event_time INTEGER NOT NULL DEFAULT -9223372036854775808;");
    }
    if (!has_column("version")) {
      db_.exec("ALTER TABLE outbox ADD COLUMN version INTEGER NOT NULL DEFAULT 0;"
               "ALTER TABLE outbox ADD COLUMN as_of INTEGER NOT NULL DEFAULT 0;");
    }
    if (!has_column("origin")) db_.exec("ALTER TABLE outbox ADD COLUMN origin TEXT NOT NULL DEFAULT '';");
  }

  std::optional<CustomerState> load_customer(std::string_view customer_id,
                                             Micros closed_window) {
    load_customer_.bind_text(1, customer_id);
    if (!load_customer_.step()) {
      load_customer_.reset();
      return std::nullopt;
    }
    CustomerState s;
    s.stored = true;
    s.customer_id = customer_id;
    bool ok = decode_state(load_customer_.column_blob(3), s);
    s.version = load_customer_.column_int64(0);
    s.journal_seq = load_customer_.column_int64(1);
    s.feedback_score_sum = load_customer_.column_int64(2);
    load_customer_.reset();
    if (!ok) throw std::runtime_error("ledger store: corrupt state of customer " + s.customer_id);

    load_invoices_.bind_text(1, customer_id).bind_int64(2, s.last_event_time - closed_window);
    while (load_invoices_.step()) {
      Invoice inv;
      inv.sale_event_id = load_invoices_.column_text(0);
      inv.issued = load_invoices_.column_int64(1);
      inv.due = load_invoices_.column_int64(2);
      inv.amount = load_invoices_.column_int64(3);
      inv.open = load_invoices_.column_int64(4);
      if (!load_invoices_.column_is_null(5)) inv.closed = load_invoices_.column_int64(5);
      inv.closed_by_payment = load_invoices_.column_int64(6) != 0;
      s.invoices.push_back(std::move(inv));
    }
    load_invoices_.reset();
    return s;
  }

  // The filter of every event id the events table may hold, (re)built from the table when
  // missing, full, or when another connection committed since it was built (PRAGMA
  // data_version changes only for other connections' commits), so an id it rules out is
  // certainly not stored, whoever wrote the file.
  const IdFilter& stored_ids() {
    int64_t version = data_version_.step() ? data_version_.column_int64(0) : -1;
    data_version_.reset();
    if (!filter_ || filter_->full() || version != filter_version_) {
      std::vector<std::string> ids;
      while (all_event_ids_.step()) ids.emplace_back(all_event_ids_.column_text(0));
      all_event_ids_.reset();
      filter_.emplace(std::max<size_t>(1 << 20, ids.size() * 2));
      for (const auto& id : ids) filter_->add(id);
      filter_version_ = version;
    }
    return *filter_;
  }

  // The state rows, then the changed invoices of every customer.
  void save_customers(const Changes& c) {
    insert_rows(save_customers_, save_customer_, 5, c.customers.size(), [&](sql::sqlite::Statement& st, int p, size_t i) {
      const CustomerRow& r = c.customers[i];
      st.bind_text_view(p, r.customer_id)
          .bind_int64(p + 1, r.version)
          .bind_int64(p + 2, r.journal_seq)
          .bind_int64(p + 3, r.feedback_score_sum)
          .bind_blob_view(p + 4, r.state);
    });
    for (const CustomerRow& r : c.customers) save_invoices(r);
  }

  void save_invoices(const CustomerRow& s) {
    for (const auto& inv : s.invoices) {
      save_invoice_.bind_text(1, s.customer_id)
          .bind_text(2, inv.sale_event_id)
          .bind_int64(3, inv.issued)
          .bind_int64(4, inv.due)
          .bind_int64(5, inv.amount)
          .bind_int64(6, inv.open);
      if (inv.closed) {
        save_invoice_.bind_int64(7, *inv.closed);
      } else {
        save_invoice_.bind_null(7);
      }
      save_invoice_.bind_int64(8, inv.closed_by_payment ? 1 : 0);
      save_invoice_.run();
    }
  }

  Db db_;  // declared first: destroyed after every statement below
  std::optional<Checkpointer> checkpointer_;  // before the statements: stops before db_ closes
  sql::sqlite::Statement insert_events_, save_customers_, insert_journals_, insert_outboxes_;  // multi-row
  sql::sqlite::Statement insert_event_, save_customer_, insert_journal_, insert_outbox_;
  Statement all_event_ids_, data_version_;
  std::optional<IdFilter> filter_;  // see stored_ids()
  int64_t filter_version_ = -1;
  std::deque<OutboxMessage> outbox_cache_;  // see outbox_cache_valid()
  std::vector<OutboxMessage> staged_outbox_;  // written in the open transaction
  bool outbox_known_ = false;
  size_t handed_out_ = 0;  // leading cache entries whose rows pending_outbox() moved out
  int64_t outbox_version_ = -1;
  Statement load_offsets_, save_offset_, find_event_, delete_event_,
      load_customer_, load_invoices_, save_invoice_,
      read_journal_, receivable_before_, insert_deferred_, select_deferred_, delete_deferred_,
      select_deferred_before_, deferred_keys_, pending_outbox_, ack_outbox_,
      load_balances_, add_balance_;
};

}  // namespace

std::unique_ptr<Store> make_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteStore>(path);
}

}  // namespace tierflow::ledger
