// The PostgreSQL backend of the ledger store (libpqxx, one connection).
//
// Every write of a transaction goes in one Store::write() call and becomes one array-bound
// statement per table (`INSERT ... SELECT FROM unnest($1::text[], ...)`), so a batch of
// 20,000 events costs about ten round trips (BASELINES.md: ~47k events/s on one
// connection). Changes lists hold each key once, as a multi-row ON CONFLICT needs.
// Reads that a batch needs are array-bound too (`WHERE event_id = ANY($1)`).
//
// Several ledger instances may share the database: each owns its partitions (so its
// customers and events); balance rows are moved by deltas, in a fixed order (no deadlock);
// the outbox is relayed at least once: ack_outbox deletes only rows this store handed out.
#include <pqxx/pqxx>
#include <pqxx/stream_to>

#include <algorithm>
#include <charconv>
#include <tuple>
#include <type_traits>
#include <stdexcept>
#include <unordered_map>

#include "pg_support.h"
#include "state.h"
#include "tierflow/ledger/ledger.h"
#include "tierflow/ledger/store.h"

namespace tierflow::ledger {
namespace {

using pg_support::ArrayLiteral;
using pg_support::hex_bytea;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS offsets(
  topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset BIGINT NOT NULL,
  PRIMARY KEY(topic, part));
ALTER TABLE offsets ADD COLUMN IF NOT EXISTS max_event_time BIGINT NOT NULL
  DEFAULT -9223372036854775808;
CREATE TABLE IF NOT EXISTS events(
  event_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, kind INTEGER NOT NULL,
  event_time BIGINT NOT NULL, amount BIGINT NOT NULL, refunded BIGINT NOT NULL,
  cost BIGINT NOT NULL, currency TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers(
  customer_id TEXT PRIMARY KEY, version BIGINT NOT NULL, journal_seq BIGINT NOT NULL,
  feedback_sum BIGINT NOT NULL, last_event_time BIGINT NOT NULL, state BYTEA NOT NULL)
  WITH (fillfactor = 70);  -- room on each page for a rewritten row (HOT update: no index entry)
CREATE TABLE IF NOT EXISTS invoices(
  customer_id TEXT NOT NULL, sale_event_id TEXT NOT NULL, issued BIGINT NOT NULL,
  due BIGINT NOT NULL, amount BIGINT NOT NULL, open_amount BIGINT NOT NULL,
  closed BIGINT, closed_by_payment BOOLEAN NOT NULL,
  PRIMARY KEY(customer_id, sale_event_id));
CREATE TABLE IF NOT EXISTS journal(
  customer_id TEXT NOT NULL, seq BIGINT NOT NULL, event_time BIGINT NOT NULL,
  receivable_delta BIGINT NOT NULL, entry BYTEA NOT NULL,
  PRIMARY KEY(customer_id, seq));
CREATE TABLE IF NOT EXISTS deferred(
  event_id TEXT PRIMARY KEY, waiting_for TEXT NOT NULL, customer_id TEXT NOT NULL,
  topic TEXT NOT NULL, part INTEGER NOT NULL, off BIGINT NOT NULL, since BIGINT NOT NULL,
  value BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS deferred_by_waiting ON deferred(waiting_for);
CREATE INDEX IF NOT EXISTS deferred_by_since ON deferred(since);
CREATE TABLE IF NOT EXISTS outbox(
  id BIGSERIAL PRIMARY KEY, topic TEXT NOT NULL, customer_id TEXT NOT NULL,
  payload BYTEA NOT NULL, error TEXT NOT NULL);
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS as_of BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS origin TEXT NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS balances(
  account TEXT NOT NULL, currency TEXT NOT NULL, debit BIGINT NOT NULL,
  credit BIGINT NOT NULL, PRIMARY KEY(account, currency));
)sql";

// Serialises instances creating the schema at the same time (CREATE ... IF NOT EXISTS is
// not safe against a concurrent creator).
constexpr int64_t kSchemaLockKey = 0x7469657266'6c6f77;  // "tierflow"

std::string bytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

DeferredRow read_deferred(const pqxx::row& r) {
  DeferredRow d;
  d.event_id = r[0].c_str();
  d.waiting_for = r[1].c_str();
  d.customer_id = r[2].c_str();
  d.topic = r[3].c_str();
  d.partition = r[4].as<int32_t>();
  d.offset = r[5].as<int64_t>();
  d.since = r[6].as<int64_t>();
  d.value = bytes(r[7]);
  return d;
}

using pg_support::kDeferredColumns;

class PostgresStore final : public Store {
 public:
  explicit PostgresStore(const std::string& url) : conn_(url), side_(url) {
    {
      pqxx::work w(conn_);
      w.exec_params("SELECT pg_advisory_xact_lock($1)", kSchemaLockKey);
      w.exec(std::string(kSchema));
      w.commit();
    }
    pg_support::prepare_statements(conn_);
    pg_support::prepare_statements(side_);
  }

  // Reads and the outbox go through their own connection (side_), writes through conn_.
  bool reads_beside_writes() const override { return true; }

  void begin() override {
    if (txn_) throw std::logic_error("ledger pg store: begin() inside a transaction");
    txn_ = std::make_unique<pqxx::work>(conn_);
  }

  void commit() override {
    if (!txn_) throw std::logic_error("ledger pg store: commit() without begin()");
    txn_->commit();
    txn_.reset();
  }

  void rollback() noexcept override {
    try {
      txn_.reset();  // aborts when not committed
    } catch (...) {
      // A broken connection: the server rolls back on its own.
    }
  }

  std::vector<OffsetRow> load_offsets() override {
    return read([&](pqxx::transaction_base& t) {
      std::vector<OffsetRow> out;
      for (const auto& r : t.exec_prepared("load_offsets")) {
        out.push_back({r[0].c_str(), r[1].as<int32_t>(), r[2].as<int64_t>(), r[3].as<int64_t>()});
      }
      return out;
    });
  }

  std::vector<BalanceRow> load_balances() override {
    return read([&](pqxx::transaction_base& t) {
      std::vector<BalanceRow> out;
      for (const auto& r : t.exec_prepared("load_balances")) {
        out.push_back({r[0].c_str(), r[1].c_str(), r[2].as<int64_t>(), r[3].as<int64_t>()});
      }
      return out;
    });
  }

  std::vector<std::string> deferred_keys() override {
    return read([&](pqxx::transaction_base& t) {
      std::vector<std::string> out;
      for (const auto& r : t.exec_prepared("deferred_keys")) out.emplace_back(r[0].c_str());
      return out;
    });
  }

  std::vector<EventRow> find_events(const std::vector<std::string_view>& ids) override {
    ArrayLiteral a;
    for (auto id : ids) a.text(id);
    const std::string arr = a.done();
    return read([&](pqxx::transaction_base& t) {
      std::vector<EventRow> out;
      for (const auto& r : t.exec_prepared("find_events", arr)) {
        EventRow e;
        e.event_id = r[0].c_str();
        e.customer_id = r[1].c_str();
        e.kind = static_cast<EventKind>(r[2].as<int32_t>());
        e.event_time = r[3].as<int64_t>();
        e.amount = r[4].as<int64_t>();
        e.refunded = r[5].as<int64_t>();
        e.cost = r[6].as<int64_t>();
        e.currency = r[7].c_str();
        out.push_back(std::move(e));
      }
      return out;
    });
  }

  std::vector<CustomerState> load_customers(const std::vector<std::string_view>& ids,
                                            Micros closed_window) override {
    ArrayLiteral a;
    for (auto id : ids) a.text(id);
    const std::string arr = a.done();
    return read([&](pqxx::transaction_base& t) {
      std::vector<CustomerState> out;
      std::unordered_map<std::string, size_t> index;
      for (const auto& r : t.exec_prepared("load_customers", arr)) {
        CustomerState s;
        s.stored = true;
        s.customer_id = r[0].c_str();
        if (!decode_state(bytes(r[4]), s)) {
          throw std::runtime_error("ledger store: corrupt state of customer " + s.customer_id);
        }
        s.version = r[1].as<int64_t>();
        s.journal_seq = r[2].as<int64_t>();
        s.feedback_score_sum = r[3].as<int64_t>();
        index.emplace(s.customer_id, out.size());
        out.push_back(std::move(s));
      }
      if (out.empty()) return out;
      for (const auto& r : t.exec_prepared("load_invoices", arr, closed_window)) {
        auto it = index.find(r[0].c_str());
        if (it == index.end()) continue;
        Invoice inv;
        inv.sale_event_id = r[1].c_str();
        inv.issued = r[2].as<int64_t>();
        inv.due = r[3].as<int64_t>();
        inv.amount = r[4].as<int64_t>();
        inv.open = r[5].as<int64_t>();
        if (!r[6].is_null()) inv.closed = r[6].as<int64_t>();
        inv.closed_by_payment = r[7].as<bool>();
        out[it->second].invoices.push_back(std::move(inv));
      }
      return out;
    });
  }

  std::vector<DeferredRow> load_deferred(std::string_view waiting_for) override {
    return read([&](pqxx::transaction_base& t) {
      std::vector<DeferredRow> out;
      for (const auto& r : t.exec_prepared("load_deferred", std::string(waiting_for))) {
        out.push_back(read_deferred(r));
      }
      return out;
    });
  }

  std::vector<DeferredRow> load_deferred_before(Micros before) override {
    return read([&](pqxx::transaction_base& t) {
      std::vector<DeferredRow> out;
      for (const auto& r : t.exec_prepared("load_deferred_before", before)) {
        out.push_back(read_deferred(r));
      }
      return out;
    });
  }

  std::vector<JournalRow> read_journal(std::string_view customer_id, Micros from, Micros to,
                                       int64_t after_seq, size_t limit) override {
    return read([&](pqxx::transaction_base& t) {
      std::vector<JournalRow> out;
      for (const auto& r : t.exec_prepared("read_journal", std::string(customer_id), from, to,
                                           after_seq, static_cast<int64_t>(limit))) {
        JournalRow j;
        j.customer_id = customer_id;
        j.seq = r[0].as<int64_t>();
        j.event_time = r[1].as<int64_t>();
        j.receivable_delta = r[2].as<int64_t>();
        j.entry = bytes(r[3]);
        out.push_back(std::move(j));
      }
      return out;
    });
  }

  int64_t receivable_before(std::string_view customer_id, Micros before) override {
    return read([&](pqxx::transaction_base& t) {
      auto r = t.exec_prepared("receivable_before", std::string(customer_id), before);
      return r.empty() ? int64_t{0} : r[0][0].as<int64_t>();
    });
  }

  // Snapshot rows keep (version, as_of); their payloads are rebuilt from the customers'
  // stored states, and a row whose version the customer has moved past is skipped (a later
  // row carries the newer one). Skipped rows count as handed out: an ack past them deletes
  // them.
  std::vector<OutboxMessage> pending_outbox(size_t limit) override {
    std::vector<OutboxMessage> out;
    handed_out_.clear();
    int64_t after = 0;
    while (out.size() < limit) {
      struct Row {
        OutboxMessage m;
        int64_t version = 0;
        Micros as_of = 0;
      };
      std::vector<Row> rows;
      std::unordered_map<std::string, CustomerState> states;
      read([&](pqxx::transaction_base& t) {
        for (const auto& r : t.exec_prepared("pending_outbox", after, static_cast<int64_t>(limit))) {
          Row row;
          row.m.id = r[0].as<int64_t>();
          row.m.customer_id = r[1].c_str();
          row.m.topic = r[3].c_str();
          row.m.error = r[4].c_str();
          row.m.origin = r[7].c_str();
          row.version = r[5].as<int64_t>();
          row.as_of = r[6].as<int64_t>();
          if (row.version == 0) row.m.payload = bytes(r[2]);
          rows.push_back(std::move(row));
        }
        return 0;
      });
      std::vector<std::string_view> ids;
      for (const auto& row : rows) {
        if (row.version > 0) ids.push_back(row.m.customer_id);
      }
      if (!ids.empty()) {
        for (auto& st : load_customers(ids, kClosedInvoiceWindow)) {
          std::string id = st.customer_id;
          states.emplace(std::move(id), std::move(st));
        }
      }
      for (auto& row : rows) {
        after = row.m.id;
        handed_out_.push_back(row.m.id);
        if (row.version > 0) {
          auto it = states.find(row.m.customer_id);
          if (it == states.end() || it->second.version != row.version) continue;  // superseded
          row.m.payload = build_snapshot(it->second, row.as_of).SerializeAsString();
        }
        out.push_back(std::move(row.m));
        if (out.size() == limit) break;
      }
      if (rows.size() < limit) break;
    }
    return out;
  }

  // The side connection sees only committed rows: the table read is always the answer.
  std::optional<std::vector<OutboxMessage>> committed_outbox(size_t limit) override {
    return pending_outbox(limit);
  }

  // Deletes only rows the last pending_outbox() returned: with several writers, a row with a
  // smaller id may commit after that read, and it must stay until it is relayed.
  void ack_outbox(int64_t up_to_id) override {
    ArrayLiteral a;
    size_t n = 0;
    for (int64_t id : handed_out_) {
      if (id <= up_to_id) {
        a.integer(id);
        ++n;
      }
    }
    if (n == 0) return;
    const std::string arr = a.done();
    pqxx::nontransaction del(side_);  // committed rows only: no other transaction touches them
    del.exec_prepared("ack_outbox", arr);
    std::erase_if(handed_out_, [&](int64_t id) { return id <= up_to_id; });
  }

  void write(const Changes& c) override {
    if (!txn_) throw std::logic_error("ledger pg store: write() outside a transaction");
    pqxx::work& t = *txn_;
    if (!c.offsets.empty()) {
      ArrayLiteral topic, part, next, newest;
      for (const auto& o : c.offsets) {
        topic.text(o.topic);
        part.integer(o.partition);
        next.integer(o.next_offset);
        newest.integer(o.max_event_time);
      }
      t.exec_prepared("save_offsets", topic.done(), part.done(), next.done(), newest.done());
    }
    if (!c.deleted_events.empty()) {
      ArrayLiteral ids;
      for (const auto& id : c.deleted_events) ids.text(id);
      t.exec_prepared("delete_events", ids.done());
    }
    if (!c.events.empty()) {
      ArrayLiteral id, customer, kind, time, amount, refunded, cost, currency;
      id.reserve(c.events.size() * 24);
      customer.reserve(c.events.size() * 16);
      for (const auto& e : c.events) {
        id.text(e.event_id);
        customer.text(e.customer_id);
        kind.integer(static_cast<int64_t>(e.kind));
        time.integer(e.event_time);
        amount.integer(e.amount);
        refunded.integer(e.refunded);
        cost.integer(e.cost);
        currency.text(e.currency);
      }
      t.exec_prepared("upsert_events", id.done(), customer.done(), kind.done(), time.done(),
                      amount.done(), refunded.done(), cost.done(), currency.done());
    }
    if (!c.customers.empty()) {
      // Rows the store already holds are UPDATEd (cheaper than an upsert's failed insert);
      // the others are upserted. Index 0: new, 1: stored.
      ArrayLiteral id[2], version[2], seq[2], fsum[2], last[2], state[2];
      size_t rows[2] = {0, 0};
      ArrayLiteral icust, isale, issued, due, iamount, open, closed, by_payment;
      size_t invoices = 0;
      for (const CustomerRow& s : c.customers) {
        const int k = s.stored ? 1 : 0;
        ++rows[k];
        id[k].text(s.customer_id);
        version[k].integer(s.version);
        seq[k].integer(s.journal_seq);
        fsum[k].integer(s.feedback_score_sum);
        last[k].integer(s.last_event_time);
        state[k].bytea(s.state);
        for (const auto& inv : s.invoices) {
          ++invoices;
          icust.text(s.customer_id);
          isale.text(inv.sale_event_id);
          issued.integer(inv.issued);
          due.integer(inv.due);
          iamount.integer(inv.amount);
          open.integer(inv.open);
          if (inv.closed) {
            closed.integer(*inv.closed);
          } else {
            closed.null();
          }
          by_payment.boolean(inv.closed_by_payment);
        }
      }
      if (rows[0] > 0) {
        t.exec_prepared("upsert_customers", id[0].done(), version[0].done(), seq[0].done(),
                        fsum[0].done(), last[0].done(), state[0].done());
      }
      if (rows[1] > 0) {
        auto r = t.exec_prepared("update_customers", id[1].done(), version[1].done(), seq[1].done(),
                                 fsum[1].done(), last[1].done(), state[1].done());
        if (static_cast<size_t>(r.affected_rows()) != rows[1]) {
          throw std::runtime_error("ledger pg store: " + std::to_string(rows[1] - r.affected_rows()) +
                                   " customer rows expected in the store are missing");
        }
      }
      if (invoices > 0) {
        t.exec_prepared("upsert_invoices", icust.done(), isale.done(), issued.done(), due.done(),
                        iamount.done(), open.done(), closed.done(), by_payment.done());
      }
    }
    if (!c.journal.empty()) {
      // Append-only: COPY, the server's cheapest way in (no array to parse, no executor
      // per row). bytea goes as its hex text form.
      pqxx::stream_to copy(t, "journal",
                           std::vector<std::string>{"customer_id", "seq", "event_time",
                                                    "receivable_delta", "entry"});
      std::string hex;
      for (const auto& j : c.journal) {
        hex_bytea(j.entry, hex);
        copy << std::make_tuple(j.customer_id, j.seq, j.event_time, j.receivable_delta, hex);
      }
      copy.complete();
    }
    if (!c.deleted_deferred.empty()) {
      ArrayLiteral ids;
      for (const auto& id : c.deleted_deferred) ids.text(id);
      t.exec_prepared("delete_deferred", ids.done());
    }
    if (!c.deferred.empty()) {
      ArrayLiteral id, waiting, customer, topic, part, off, since, value;
      for (const auto& d : c.deferred) {
        id.text(d.event_id);
        waiting.text(d.waiting_for);
        customer.text(d.customer_id);
        topic.text(d.topic);
        part.integer(d.partition);
        off.integer(d.offset);
        since.integer(d.since);
        value.bytea(d.value);
      }
      t.exec_prepared("insert_deferred", id.done(), waiting.done(), customer.done(), topic.done(),
                      part.done(), off.done(), since.done(), value.done());
    }
    if (!c.outbox.empty()) {
      // Append-only and in order: COPY (ids follow the stream). A snapshot keeps (version,
      // as_of), not its bytes: see pending_outbox().
      pqxx::stream_to copy(t, "outbox",
                           std::vector<std::string>{"topic", "customer_id", "payload", "error",
                                                    "version", "as_of", "origin"});
      std::string hex;
      for (const auto& o : c.outbox) {
        hex_bytea(o.version > 0 ? std::string_view() : std::string_view(o.payload), hex);
        copy << std::make_tuple(o.topic, o.customer_id, hex, o.error, o.version, o.as_of, o.origin);
      }
      copy.complete();
    }
    if (!c.balances.empty()) {
      // Last, and in key order: the rows other instances also move stay locked briefly.
      std::vector<const BalanceRow*> rows;
      for (const auto& b : c.balances) rows.push_back(&b);
      std::sort(rows.begin(), rows.end(), [](const BalanceRow* a, const BalanceRow* b) {
        return std::tie(a->account, a->currency) < std::tie(b->account, b->currency);
      });
      ArrayLiteral account, currency, debit, credit;
      for (const BalanceRow* b : rows) {
        account.text(b->account);
        currency.text(b->currency);
        debit.integer(b->debit);
        credit.integer(b->credit);
      }
      t.exec_prepared("add_balances", account.done(), currency.done(), debit.done(), credit.done());
    }
  }

 private:
  // Runs a read on the side connection: it sees committed data, never the open
  // transaction's writes (the Ledger reads what a transaction needs before writing it).
  template <typename Fn>
  auto read(Fn&& fn) -> std::invoke_result_t<Fn&, pqxx::transaction_base&> {
    pqxx::nontransaction n(side_);
    return fn(n);
  }

  pqxx::connection conn_;  // writes: the open transaction
  pqxx::connection side_;  // reads and the outbox relay (committed data)
  std::unique_ptr<pqxx::work> txn_;  // the open transaction, between begin() and commit()
  std::vector<int64_t> handed_out_;  // outbox ids returned by the last pending_outbox()
};

}  // namespace

std::unique_ptr<Store> make_postgres_store(const std::string& url) {
  return std::make_unique<PostgresStore>(url);
}

}  // namespace tierflow::ledger
