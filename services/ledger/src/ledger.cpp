#include "tierflow/ledger/ledger.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <limits>
#include <map>
#include <type_traits>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <absl/container/flat_hash_set.h>
#include <absl/container/inlined_vector.h>
#include <absl/container/node_hash_map.h>
#include <google/protobuf/arena.h>

#include "money.hpp"
#include "pipeline.hpp"
#include "state.hpp"
#include "wire.hpp"
#include "tierflow/ledger/store.hpp"
#include "tierflow/v1/events.pb.h"

namespace tierflow::ledger {
namespace {

constexpr int32_t kMaxTermsDays = 3650;
constexpr size_t kDefaultPageSize = 100;
constexpr size_t kMaxPageSize = 1000;
// Rows per Store::write() call of a pipelined ledger: a read waits for at most one part.
constexpr size_t kRowsPerWrite = 2048;
constexpr Micros kMinMicros = std::numeric_limits<Micros>::min();
constexpr Micros kMaxMicros = std::numeric_limits<Micros>::max();

// Journal account names (JournalLine.account).
constexpr std::string_view kCash = "cash";
constexpr std::string_view kCard = "card";
constexpr std::string_view kBank = "bank";
constexpr std::string_view kReceivable = "receivable";
constexpr std::string_view kCustomerCredit = "customer_credit";
constexpr std::string_view kRevenue = "revenue";
constexpr std::string_view kRefunds = "refunds";

// Concatenates strings and integers (absl::StrCat of Debian's Abseil predates
// std::string_view, so it does not take one).
template <typename T>
void append_piece(std::string& out, const T& v) {
  if constexpr (std::is_integral_v<T>) {
    out += std::to_string(v);
  } else {
    out += std::string_view(v);
  }
}

template <typename... Args>
std::string cat(const Args&... args) {
  std::string out;
  (append_piece(out, args), ...);
  return out;
}

struct Line {
  std::string_view account;
  int64_t debit = 0;
  int64_t credit = 0;
};

// Additions to int64 fields checked for overflow as a whole before any is made, so an
// event that would overflow is rejected without touching the state.
class Adds {
 public:
  void add(int64_t& target, int64_t delta) {
    assert(n_ < kMax);
    items_[n_++] = {&target, delta};
  }

  bool feasible() const {
    std::array<std::pair<int64_t*, int64_t>, kMax> values;  // target, value after the adds
    size_t nv = 0;
    for (size_t i = 0; i < n_; ++i) {
      const auto [ptr, delta] = items_[i];
      size_t j = 0;
      while (j < nv && values[j].first != ptr) ++j;
      if (j == nv) values[nv++] = {ptr, *ptr};
      if (!checked_add(values[j].second, delta, values[j].second)) return false;
    }
    return true;
  }

  void commit() {
    for (size_t i = 0; i < n_; ++i) *items_[i].first += items_[i].second;
  }

 private:
  static constexpr size_t kMax = 8;  // an event moves at most 7 totals
  std::array<std::pair<int64_t*, int64_t>, kMax> items_;
  size_t n_ = 0;
};

// An event's journal lines (at most five).
using Lines = absl::InlinedVector<Line, 5>;

std::string_view tender_account(v1::TenderMethod m) {
  switch (m) {
    case v1::TENDER_METHOD_CARD:
      return kCard;
    case v1::TENDER_METHOD_TRANSFER:
      return kBank;
    case v1::TENDER_METHOD_ON_ACCOUNT:
      return kReceivable;
    default:
      return kCash;  // UNSPECIFIED and CASH
  }
}

// Outcome of one event: applied, deferred until `text` (a sale id) arrives, or rejected
// with `text` as the reason.
struct Outcome {
  enum Kind { applied, deferred, rejected } kind = applied;
  std::string text;
  static Outcome ok() { return {}; }
  static Outcome reject(std::string reason) { return {rejected, std::move(reason)}; }
  static Outcome defer(std::string waiting_for) { return {deferred, std::move(waiting_for)}; }
};

std::optional<std::string> check_currency(std::string_view code) {
  if (code.empty()) return "missing currency";
  if (!currency_exponent(code)) {
    return cat("unknown currency '", code, "' (not an accepted ISO 4217 code)");
  }
  return std::nullopt;
}

// Nested amounts may leave the currency empty: it then is the event's.
bool same_currency(const v1::Money& m, std::string_view currency) {
  return m.currency().empty() || m.currency() == currency;
}

std::string days_text(absl::Duration d) {
  if (d % absl::Hours(24) == absl::ZeroDuration()) {
    int64_t days = d / absl::Hours(24);
    return cat(days, days == 1 ? " day" : " days");
  }
  return absl::FormatDuration(d);
}

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

constexpr std::string_view kAccountsTopic = "ledger.accounts.v1";

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
using BalanceMap =
    std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>, PairLess>;

std::pair<int64_t, int64_t>& balance_slot(BalanceMap& m, std::string_view account,
                                          std::string_view currency) {
  auto it = m.find(std::pair{account, currency});
  if (it == m.end()) {
    it = m.emplace(std::pair{std::string(account), std::string(currency)},
                   std::pair<int64_t, int64_t>{0, 0})
             .first;
  }
  return it->second;
}

}  // namespace

class Ledger::Impl {
 public:
  Impl(std::unique_ptr<Store> store, const Options& options)
      : store_(options.pipeline ? std::make_unique<LockedStore>(std::move(store)) : std::move(store)),
        options_(options) {
    load_caches();
    if (options_.pipeline) {
      // Parts only matter when reads wait for the writer's calls; otherwise one call.
      writer_ = std::make_unique<BatchWriter>(
          *store_, store_->reads_beside_writes() ? std::numeric_limits<size_t>::max() : kRowsPerWrite);
    }
  }

  ApplyResult apply(std::span<const ConsumedRecord> batch) {
    if (writer_) return apply_pipelined(batch);
    ApplyResult result;
    Batch b{result, ++batches_};
    store_->begin();
    try {
      process_batch(batch, b);
      sort_by_key(b.changes);
      store_->write(b.changes);
      store_->commit();
    } catch (...) {
      store_->rollback();
      end_batch();
      load_caches();  // the in-memory state may hold changes that were not stored
      throw;
    }
    for (CustomerState* st : b.changed) prune(*st);
    end_batch();
    if (customers_.size() > options_.customer_cache_capacity) customers_.clear();
    return result;
  }

  // Processes the batch while the writer still writes the previous one, then waits for
  // that commit and hands this batch over. Reads during processing see the previous
  // batch's changes through the cache (its customers) and inflight_events_.
  ApplyResult apply_pipelined(std::span<const ConsumedRecord> batch) {
    ApplyResult result;
    Batch b{result, ++batches_};
    try {
      process_batch(batch, b);
      writer_->wait();  // the previous batch is committed, or its failure is thrown here
    } catch (...) {
      discard_uncommitted();
      throw;
    }
    inflight_events_.swap(events_);  // the rows it changed are those marked dirty
    for (CustomerState* st : b.changed) prune(*st);
    end_batch();
    if (customers_.size() > options_.customer_cache_capacity) {
      // Customers of the batch being written stay: the store does not have them yet.
      // They carry its number (touch()).
      absl::erase_if(customers_, [&](const auto& kv) { return kv.second.batch != b.number; });
    }
    writer_->hand_off(std::move(b.changes));
    return result;
  }

  // Waits until every batch handed over is committed. On a failed commit: forgets all that
  // was not stored (reloads from the store) and rethrows.
  void sync() {
    if (!writer_) return;
    try {
      writer_->wait();
    } catch (...) {
      discard_uncommitted();
      throw;
    }
    inflight_events_.clear();
  }

  void refresh() {
    sync();
    end_batch();
    load_caches();
  }

  std::optional<int64_t> next_offset(std::string_view topic, int32_t partition) const {
    auto it = offsets_.find({std::string(topic), partition});
    if (it == offsets_.end()) return std::nullopt;
    return it->second;
  }

  // Pipelined: what is committed so far, from the store's memory when it can tell without
  // waiting for the batch being written.
  std::vector<OutboxMessage> pending_outbox(size_t limit) {
    if (writer_) {
      if (auto rows = store_->committed_outbox(limit)) return std::move(*rows);
      sync();
    }
    return store_->pending_outbox(limit);
  }

  void ack_outbox(int64_t up_to_id) { store_->ack_outbox(up_to_id); }

  std::optional<v1::AccountSnapshot> account(std::string_view customer_id, absl::Time now) {
    sync();
    std::optional<CustomerState> holder;
    const CustomerState* st = lookup(customer_id, holder);
    if (st == nullptr) return std::nullopt;
    return build_snapshot(*st, absl::ToUnixMicros(now));
  }

  v1::GetStatementResponse statement(const v1::GetStatementRequest& req) {
    sync();
    std::optional<CustomerState> holder;
    const CustomerState* st = lookup(req.customer_id(), holder);
    if (st == nullptr) throw NotFound("unknown customer " + req.customer_id());
    Micros from = req.has_from() ? to_micros(req.from()) : kMinMicros;
    Micros to = req.has_to() ? to_micros(req.to()) : kMaxMicros;
    size_t page_size = req.page().page_size() <= 0
                           ? kDefaultPageSize
                           : std::min(static_cast<size_t>(req.page().page_size()), kMaxPageSize);
    int64_t after = 0;
    const std::string& token = req.page().page_token();
    if (!token.empty()) {
      auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), after);
      if (ec != std::errc() || p != token.data() + token.size() || after < 0) {
        throw InvalidArgument("invalid page_token '" + token + "'");
      }
    }
    auto rows = store_->read_journal(st->customer_id, from, to, after, page_size + 1);
    v1::GetStatementResponse resp;
    for (size_t i = 0; i < rows.size() && i < page_size; ++i) {
      if (!resp.add_entries()->ParseFromString(rows[i].entry)) {
        throw std::runtime_error("ledger store: corrupt journal entry of customer " +
                                 st->customer_id);
      }
    }
    if (rows.size() > page_size) resp.set_next_page_token(std::to_string(rows[page_size - 1].seq));
    resp.set_opening_balance_minor(from == kMinMicros ? 0
                                                      : store_->receivable_before(st->customer_id, from));
    resp.set_closing_balance_minor(to == kMaxMicros ? st->receivable
                                                    : store_->receivable_before(st->customer_id, to));
    return resp;
  }

  v1::Ageing ageing(std::string_view customer_id, absl::Time as_of) {
    sync();
    std::optional<CustomerState> holder;
    const CustomerState* st = lookup(customer_id, holder);
    if (st == nullptr) throw NotFound(cat("unknown customer ", customer_id));
    return compute_ageing(*st, absl::ToUnixMicros(as_of));
  }

  // Read from the store: with several instances on one database it covers all of them.
  v1::TrialBalance trial_balance() {
    sync();
    auto rows = store_->load_balances();
    std::sort(rows.begin(), rows.end(), [](const BalanceRow& a, const BalanceRow& b) {
      return std::tie(a.account, a.currency) < std::tie(b.account, b.currency);
    });
    v1::TrialBalance tb;
    std::map<std::string_view, __int128> net;
    for (const auto& r : rows) {
      auto* line = tb.add_lines();
      line->set_account(r.account);
      line->set_currency(r.currency);
      line->set_debit_minor(r.debit);
      line->set_credit_minor(r.credit);
      net[r.currency] += static_cast<__int128>(r.debit) - r.credit;
    }
    tb.set_balanced(std::all_of(net.begin(), net.end(), [](const auto& kv) { return kv.second == 0; }));
    return tb;
  }

  int64_t deferred_count() const { return deferred_total_; }

  std::vector<Rejection> expire_deferred(absl::Time older_than, const std::string& window_text) {
    sync();  // the writer is idle until the next apply(): this transaction is the only one
    std::vector<Rejection> out;
    std::vector<DeferredRow> rows;
    store_->begin();
    try {
      rows = store_->load_deferred_before(absl::ToUnixMicros(older_than));
      Changes changes;
      for (const auto& row : rows) {
        changes.deleted_events.push_back(row.event_id);
        changes.deleted_deferred.push_back(row.event_id);
        Rejection r;
        r.event_id = row.event_id;
        r.customer_id = row.customer_id;
        r.partition = row.partition;
        r.offset = row.offset;
        r.reason = window_text.empty()
                       ? cat("sale ", row.waiting_for, " never arrived before ",
                             format_time(absl::ToUnixMicros(older_than)))
                       : cat("sale ", row.waiting_for, " never arrived within ", window_text);
        r.value = row.value;
        if (options_.dlq_in_outbox) changes.outbox.push_back(dlq_row(row.topic, r));
        out.push_back(std::move(r));
      }
      if (!changes.empty()) store_->write(changes);
      store_->commit();
    } catch (...) {
      store_->rollback();
      load_caches();
      throw;
    }
    for (const auto& row : rows) {
      auto it = deferred_index_.find(row.waiting_for);
      if (it != deferred_index_.end() && --it->second <= 0) deferred_index_.erase(it);
      --deferred_total_;
    }
    return out;
  }

 private:
  struct Batch {
    ApplyResult& result;
    uint64_t number;  // touch() stamps the customers it changes with it
    std::vector<CustomerState*> changed;  // in the order of result.changed_customers
    std::set<std::pair<std::string, int32_t>> dirty_offsets;
    // What this batch adds to each (account, currency): debit, credit.
    BalanceMap balance_deltas;
    Micros max_event_time = kMinMicros;
    Changes changes;  // filled by processing (deferred, outbox DLQ rows) and by flush()
  };

  // An event row as the current batch sees it: read before or during the batch (present or
  // known absent) and changed by it. Dropped at the end of every batch, so nothing here
  // outlives a transaction (another instance may write the same database in between).
  struct EventSlot {
    std::optional<EventRow> row;
    bool in_store = false;  // the store held the row before this batch
    bool dirty = false;     // changed by this batch
  };

  // Where an event came from: the record now, or the one stored with a deferred event.
  struct Source {
    std::string_view topic;
    int32_t partition = 0;
    int64_t offset = 0;
    std::string_view key;
    std::string_view value;
  };

  // A customer being changed by one event: the cached state, or a fresh one that joins the
  // cache only when the event is applied (a rejected event leaves no trace).
  struct Target {
    CustomerState* state = nullptr;
    std::optional<CustomerState> fresh;
  };

  void load_caches() {
    customers_.clear();
    balances_.clear();
    offsets_.clear();
    for (auto& o : store_->load_offsets()) offsets_[{std::move(o.topic), o.partition}] = o.next_offset;
    for (auto& r : store_->load_balances()) {
      balances_[{std::move(r.account), std::move(r.currency)}] = {r.debit, r.credit};
    }
    deferred_index_.clear();
    deferred_total_ = 0;
    for (auto& k : store_->deferred_keys()) {
      ++deferred_index_[std::move(k)];
      ++deferred_total_;
    }
  }

  void end_batch() {
    events_.clear();
    absent_customers_.clear();
  }

  // After a failure: waits for the writer (dropping its error: the caller rethrows one),
  // then forgets every change not stored and reloads what the store holds.
  void discard_uncommitted() {
    if (writer_) {
      try {
        writer_->wait();
      } catch (...) {
      }
    }
    inflight_events_.clear();
    end_batch();
    load_caches();
  }

  // Reads what the batch needs, applies its records in order and collects its changes in
  // b.changes. The parsed events live on one arena, freed at once when this returns.
  void process_batch(std::span<const ConsumedRecord> batch, Batch& b) {
    google::protobuf::ArenaOptions arena_options;
    arena_options.start_block_size = 256 * 1024;
    arena_options.max_block_size = 4 * 1024 * 1024;
    google::protobuf::Arena arena(arena_options);
    auto parsed = prefetch(batch, arena);
    for (size_t i = 0; i < batch.size(); ++i) process_record(batch[i], parsed[i], b);
    flush(b);
  }

  // Parses the batch and reads, in two store calls, the event rows and customers it names,
  // so processing rarely goes back to the store. Records below their partition's resume
  // point are not parsed (process_record skips them). The events are allocated on `arena`;
  // nullptr for a record not parsed or not parseable.
  std::vector<const v1::PosEvent*> prefetch(std::span<const ConsumedRecord> batch,
                                            google::protobuf::Arena& arena) {
    std::vector<const v1::PosEvent*> parsed(batch.size(), nullptr);
    std::vector<std::string_view> ids, customers;
    StringSet wanted_customers;
    ids.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& rec = batch[i];
      auto it = offsets_.find({std::string(rec.topic), rec.partition});
      if (it != offsets_.end() && rec.offset < it->second) continue;
      auto& ev = *google::protobuf::Arena::CreateMessage<v1::PosEvent>(&arena);
      if (!ev.ParseFromArray(rec.value.data(), static_cast<int>(rec.value.size()))) continue;
      parsed[i] = &ev;
      if (!ev.event_id().empty()) ids.push_back(ev.event_id());
      if (ev.has_refund() && !ev.refund().original_event_id().empty()) {
        ids.push_back(ev.refund().original_event_id());
      }
      if (ev.has_payment() && !ev.payment().invoice_event_id().empty()) {
        ids.push_back(ev.payment().invoice_event_id());
      }
      const std::string& c = ev.customer_id();
      if (!c.empty() && !customers_.contains(c) && wanted_customers.insert(c).second) {
        customers.push_back(c);
      }
    }
    // Rows the batch being written changed are known here; the store may not have them.
    std::erase_if(ids, [&](std::string_view id) {
      auto it = inflight_events_.find(id);
      if (it == inflight_events_.end() || !it->second.dirty) return false;
      const auto& row = it->second.row;
      events_.try_emplace(std::string(id), EventSlot{row, row.has_value(), false});
      return true;
    });
    if (!ids.empty()) {
      for (auto& row : store_->find_events(ids)) {
        std::string id = row.event_id;
        events_.insert_or_assign(std::move(id), EventSlot{std::move(row), true, false});
      }
      for (auto id : ids) events_.try_emplace(std::string(id));
    }
    if (!customers.empty()) {
      for (auto& st : store_->load_customers(customers, kClosedInvoiceWindow)) {
        wanted_customers.erase(st.customer_id);
        std::string id = st.customer_id;
        customers_.insert_or_assign(std::move(id), std::move(st));
      }
      absent_customers_ = std::move(wanted_customers);
    }
    return parsed;
  }

  // The event row `id` as this batch sees it; nullptr when there is none.
  const EventRow* find_event(std::string_view id) {
    auto it = events_.find(id);
    if (it == events_.end()) {
      EventSlot slot;
      if (auto in = inflight_events_.find(id); in != inflight_events_.end() && in->second.dirty) {
        slot.row = in->second.row;
        slot.in_store = slot.row.has_value();
        auto& placed = events_.emplace(std::string(id), std::move(slot)).first->second;
        return placed.row ? &*placed.row : nullptr;
      }
      auto rows = store_->find_events({id});
      if (!rows.empty()) {
        slot.row = std::move(rows.front());
        slot.in_store = true;
      }
      it = events_.emplace(std::string(id), std::move(slot)).first;
    }
    return it->second.row ? &*it->second.row : nullptr;
  }

  void put_event(EventRow row) {
    find_event(row.event_id);  // learns whether the store holds it
    auto& slot = events_.find(row.event_id)->second;
    slot.row = std::move(row);
    slot.dirty = true;
  }

  void set_refunded(std::string_view id, int64_t refunded) {
    find_event(id);
    auto& slot = events_.find(id)->second;
    slot.row->refunded = refunded;
    slot.dirty = true;
  }

  void erase_event(std::string_view id) {
    find_event(id);
    auto& slot = events_.find(id)->second;
    slot.row.reset();
    slot.dirty = true;
  }

  CustomerState* find_customer(std::string_view id) {
    auto it = customers_.find(id);
    if (it != customers_.end()) return &it->second;
    if (absent_customers_.contains(id)) return nullptr;
    auto loaded = store_->load_customers({id}, kClosedInvoiceWindow);
    if (loaded.empty()) {
      absent_customers_.emplace(id);
      return nullptr;
    }
    return &customers_.insert_or_assign(std::string(id), std::move(loaded.front())).first->second;
  }

  const CustomerState* lookup(std::string_view id, std::optional<CustomerState>& holder) {
    auto it = customers_.find(id);
    if (it != customers_.end()) return &it->second;
    auto loaded = store_->load_customers({id}, kClosedInvoiceWindow);
    if (loaded.empty()) return nullptr;
    holder = std::move(loaded.front());
    return &*holder;
  }

  Target target(const std::string& id) {
    Target t;
    t.state = find_customer(id);
    if (t.state == nullptr) {
      t.fresh.emplace();
      t.fresh->customer_id = id;
      t.state = &*t.fresh;
    }
    return t;
  }

  CustomerState& adopt(Target& t) {
    if (!t.fresh) return *t.state;
    std::string id = t.fresh->customer_id;
    t.state = &customers_.emplace(std::move(id), std::move(*t.fresh)).first->second;
    t.fresh.reset();
    return *t.state;
  }

  void process_record(const ConsumedRecord& rec, const v1::PosEvent* parsed, Batch& b) {
    auto key = std::make_pair(std::string(rec.topic), rec.partition);
    auto it = offsets_.find(key);
    if (it != offsets_.end() && rec.offset < it->second) {
      ++b.result.replayed;
      return;
    }
    offsets_[key] = rec.offset + 1;
    b.dirty_offsets.insert(std::move(key));

    Source src{rec.topic, rec.partition, rec.offset, rec.key, rec.value};
    if (!parsed) {
      reject(src, "", std::string(rec.key), "unparseable bytes: not a tierflow.v1.PosEvent", b);
      return;
    }
    handle_event(*parsed, src, /*released=*/false, b);
  }

  void reject(const Source& src, std::string event_id, std::string customer_id,
              std::string reason, Batch& b) {
    Rejection r;
    r.event_id = std::move(event_id);
    r.customer_id = std::move(customer_id);
    r.partition = src.partition;
    r.offset = src.offset;
    r.reason = std::move(reason);
    r.value = std::string(src.value);
    if (options_.dlq_in_outbox) b.changes.outbox.push_back(dlq_row(src.topic, r));
    b.result.rejected.push_back(std::move(r));
  }

  static OutboxRow dlq_row(std::string_view topic, const Rejection& r) {
    return {cat(topic, ".dlq"), r.customer_id, r.value, r.reason};
  }

  std::optional<std::string> check_header(const v1::PosEvent& ev, const Source& src,
                                          bool released) {
    if (ev.event_id().empty()) return "missing event_id";
    if (ev.customer_id().empty()) return "missing customer_id";
    if (!ev.has_event_time()) return "missing event_time";
    const auto& ts = ev.event_time();
    if (ts.seconds() < -62135596800 || ts.seconds() > 253402300799 || ts.nanos() < 0 ||
        ts.nanos() > 999999999) {
      return "event_time out of range";
    }
    if (ev.body_case() == v1::PosEvent::BODY_NOT_SET) {
      return "event has no body (sale, refund, payment or feedback)";
    }
    if (!released && !src.key.empty() && src.key != ev.customer_id()) {
      return cat("record key '", src.key, "' differs from customer_id '",
                          ev.customer_id(), "'");
    }
    return std::nullopt;
  }

  void handle_event(const v1::PosEvent& ev, const Source& src, bool released, Batch& b) {
    if (auto bad = check_header(ev, src, released)) {
      reject(src, ev.event_id(), ev.customer_id(), std::move(*bad), b);
      return;
    }
    if (!released && find_event(ev.event_id()) != nullptr) {
      ++b.result.duplicates;
      return;
    }
    const Micros t = to_micros(ev.event_time());
    Outcome out;
    switch (ev.body_case()) {
      case v1::PosEvent::kSale:
        out = apply_sale(ev, t, b);
        break;
      case v1::PosEvent::kRefund:
        out = apply_refund(ev, t, b);
        break;
      case v1::PosEvent::kPayment:
        out = apply_payment(ev, t, b);
        break;
      case v1::PosEvent::kFeedback:
        out = apply_feedback(ev, t, b);
        break;
      default:
        out = Outcome::reject("event has no body");
    }
    switch (out.kind) {
      case Outcome::applied:
        ++(released ? b.result.released : b.result.applied);
        if (ev.has_sale()) release_waiting(ev.event_id(), b);
        break;
      case Outcome::deferred:
        defer(ev, t, src, out.text, b);
        break;
      case Outcome::rejected:
        reject(src, ev.event_id(), ev.customer_id(), std::move(out.text), b);
        break;
    }
  }

  // --- events -----------------------------------------------------------------------

  Outcome apply_sale(const v1::PosEvent& ev, Micros t, Batch& b) {
    const v1::Sale& s = ev.sale();
    const std::string& cur = s.total().currency();
    if (auto bad = check_currency(cur)) return Outcome::reject(*bad);
    const int64_t total = s.total().minor_units();
    if (total < 0) return Outcome::reject("negative amount: sale total " + format_money(total, cur));

    int64_t line_sum = 0, line_cost = 0;
    bool any_line_cost = false;
    for (const auto& line : s.lines()) {
      if (!same_currency(line.amount(), cur) || !same_currency(line.cost(), cur)) {
        return Outcome::reject(cat("line ", line.sku(), " is not in the sale's currency ", cur));
      }
      if (line.quantity() < 0) return Outcome::reject("negative quantity on line " + line.sku());
      if (line.amount().minor_units() < 0 || line.cost().minor_units() < 0) {
        return Outcome::reject("negative amount on line " + line.sku());
      }
      if (!checked_add(line_sum, line.amount().minor_units(), line_sum)) {
        return Outcome::reject("line amounts overflow a 64-bit amount");
      }
      if (line.has_cost()) {
        any_line_cost = true;
        if (!checked_add(line_cost, line.cost().minor_units(), line_cost)) {
          return Outcome::reject("line costs overflow a 64-bit amount");
        }
      }
    }
    if (s.lines_size() > 0 && line_sum != total) {
      return Outcome::reject(cat("lines sum to ", format_money(line_sum, cur),
                                          " but the total is ", format_money(total, cur)));
    }

    int64_t cash = 0, card = 0, bank = 0, on_account = 0, tender_sum = 0;
    if (s.tenders_size() == 0) cash = total;
    for (const auto& tender : s.tenders()) {
      if (!same_currency(tender.amount(), cur)) {
        return Outcome::reject("tender is not in the sale's currency " + cur);
      }
      const int64_t a = tender.amount().minor_units();
      if (a < 0) return Outcome::reject("negative amount: tender " + format_money(a, cur));
      int64_t* bucket = &cash;
      switch (tender.method()) {
        case v1::TENDER_METHOD_CARD: bucket = &card; break;
        case v1::TENDER_METHOD_TRANSFER: bucket = &bank; break;
        case v1::TENDER_METHOD_ON_ACCOUNT: bucket = &on_account; break;
        default: break;
      }
      if (!checked_add(*bucket, a, *bucket) || !checked_add(tender_sum, a, tender_sum)) {
        return Outcome::reject("tender amounts overflow a 64-bit amount");
      }
    }
    if (s.tenders_size() > 0 && tender_sum != total) {
      return Outcome::reject(cat("tenders sum to ", format_money(tender_sum, cur),
                                          " but the total is ", format_money(total, cur)));
    }
    if (s.payment_terms_days() < 0 || s.payment_terms_days() > kMaxTermsDays) {
      return Outcome::reject(cat("payment_terms_days ", s.payment_terms_days(),
                                          " outside 0-", kMaxTermsDays));
    }
    int64_t cost = -1;
    if (s.has_cost()) {
      if (!same_currency(s.cost(), cur)) return Outcome::reject("cost is not in the sale's currency " + cur);
      if (s.cost().minor_units() < 0) return Outcome::reject("negative amount: sale cost");
      cost = s.cost().minor_units();
    } else if (any_line_cost) {
      cost = line_cost;
    }
    int64_t profit = total;
    if (cost >= 0 && __builtin_sub_overflow(total, cost, &profit)) {
      return Outcome::reject("gross profit overflows a 64-bit amount");
    }

    Target tg = target(ev.customer_id());
    CustomerState& st = *tg.state;
    if (!st.currency.empty() && st.currency != cur) {
      return Outcome::reject(cat("currency ", cur, " differs from the account's currency ",
                                          st.currency));
    }
    const int32_t mk = month_key(t);
    MonthTotals month = month_of(st, mk);
    Adds adds;
    adds.add(st.lifetime_sales, total);
    adds.add(st.lifetime_gross_profit, profit);
    adds.add(st.lifetime_orders, 1);
    adds.add(st.receivable, on_account);
    adds.add(month.sales, total);
    adds.add(month.gross_profit, profit);
    adds.add(month.orders, 1);
    const Lines lines{{kCash, cash, 0}, {kCard, card, 0}, {kBank, bank, 0},
                                  {kReceivable, on_account, 0}, {kRevenue, 0, total}};
    if (!adds.feasible() || !postable(lines, cur)) {
      return Outcome::reject("sale of " + format_money(total, cur) +
                             " overflows the account's 64-bit totals");
    }

    adds.commit();
    CustomerState& c = adopt(tg);
    if (c.currency.empty()) c.currency = cur;
    store_month(c, mk, month);
    if (!c.first_purchase || t < *c.first_purchase) c.first_purchase = t;
    if (!c.last_purchase || t > *c.last_purchase) c.last_purchase = t;
    if (on_account > 0) {
      Invoice inv;
      inv.sale_event_id = ev.event_id();
      inv.issued = t;
      inv.due = t + s.payment_terms_days() * kDay;
      inv.amount = on_account;
      inv.open = on_account;
      inv.dirty = true;
      c.invoices.push_back(std::move(inv));
    }
    post(c, ev, "sale", t, cur, lines, on_account, b);
    put_event({ev.event_id(), ev.customer_id(), EventKind::sale, t, total, 0, cost, cur});
    touch(c, t, b);
    return Outcome::ok();
  }

  Outcome apply_refund(const v1::PosEvent& ev, Micros t, Batch& b) {
    const v1::Refund& r = ev.refund();
    const std::string& cur = r.amount().currency();
    if (auto bad = check_currency(cur)) return Outcome::reject(*bad);
    const int64_t amount = r.amount().minor_units();
    if (amount < 0) return Outcome::reject("negative amount: refund " + format_money(amount, cur));

    int64_t margin = amount;
    std::optional<EventRow> sale;
    const std::string& orig = r.original_event_id();
    if (!orig.empty()) {
      if (const EventRow* found = find_event(orig)) sale = *found;
      if (!sale) return Outcome::defer(orig);
      if (sale->kind != EventKind::sale) {
        return Outcome::reject(cat("refund names ", orig, ", which is not a sale"));
      }
      if (sale->customer_id != ev.customer_id()) {
        return Outcome::reject(cat("sale ", orig, " belongs to another customer"));
      }
      if (sale->currency != cur) {
        return Outcome::reject(cat("refund in ", cur, " of sale ", orig, " in ", sale->currency));
      }
      const int64_t remaining = sale->amount - sale->refunded;
      if (amount > remaining) {
        return Outcome::reject(cat("refund ", format_money(amount, cur), " above the ",
                                            format_money(remaining, cur),
                                            " that remains refundable on sale ", orig));
      }
      if (sale->cost >= 0 && sale->amount > 0) {
        // The refunded share of the sale's margin; |result| <= |total - cost| fits int64.
        __int128 m = static_cast<__int128>(amount) * (static_cast<__int128>(sale->amount) - sale->cost) /
                     sale->amount;
        margin = static_cast<int64_t>(m);
      }
    }

    Target tg = target(ev.customer_id());
    CustomerState& st = *tg.state;
    if (!st.currency.empty() && st.currency != cur) {
      return Outcome::reject(cat("currency ", cur, " differs from the account's currency ",
                                          st.currency));
    }
    const bool to_account = r.method() == v1::TENDER_METHOD_ON_ACCOUNT ||
                            r.method() == v1::TENDER_METHOD_UNSPECIFIED;
    std::vector<std::pair<size_t, int64_t>> alloc;
    int64_t allocated = 0, to_credit = 0;
    Lines lines{{kRefunds, amount, 0}};
    if (to_account) {
      alloc = allocate(st, amount, orig, /*only_named=*/false);
      for (const auto& a : alloc) allocated += a.second;
      to_credit = amount - allocated;
      lines.push_back({kReceivable, 0, allocated});
      lines.push_back({kCustomerCredit, 0, to_credit});
    } else {
      lines.push_back({tender_account(r.method()), 0, amount});
    }
    const int32_t mk = month_key(t);
    MonthTotals month = month_of(st, mk);
    Adds adds;
    adds.add(st.lifetime_refunds, amount);
    adds.add(st.lifetime_gross_profit, -margin);
    adds.add(st.receivable, -allocated);
    adds.add(st.credit, to_credit);
    adds.add(month.refunds, amount);
    adds.add(month.refund_count, 1);
    adds.add(month.gross_profit, -margin);
    if (!adds.feasible() || !postable(lines, cur)) {
      return Outcome::reject("refund of " + format_money(amount, cur) +
                             " overflows the account's 64-bit totals");
    }

    adds.commit();
    CustomerState& c = adopt(tg);
    if (c.currency.empty()) c.currency = cur;
    store_month(c, mk, month);
    settle(c, alloc, t, /*by_payment=*/false);
    if (sale) set_refunded(orig, sale->refunded + amount);
    post(c, ev, "refund", t, cur, lines, -allocated, b);
    put_event({ev.event_id(), ev.customer_id(), EventKind::refund, t, amount, 0, -1, cur});
    touch(c, t, b);
    return Outcome::ok();
  }

  Outcome apply_payment(const v1::PosEvent& ev, Micros t, Batch& b) {
    const v1::Payment& p = ev.payment();
    const std::string& cur = p.amount().currency();
    if (auto bad = check_currency(cur)) return Outcome::reject(*bad);
    const int64_t amount = p.amount().minor_units();
    if (amount <= 0) {
      return Outcome::reject("payment amount must be positive, got " + format_money(amount, cur));
    }
    if (p.method() == v1::TENDER_METHOD_ON_ACCOUNT) {
      return Outcome::reject("payment method ON_ACCOUNT cannot settle an account");
    }
    CustomerState* st = find_customer(ev.customer_id());
    const std::string& named = p.invoice_event_id();
    if (!named.empty()) {
      bool in_memory = st != nullptr && std::any_of(st->invoices.begin(), st->invoices.end(),
                                                    [&](const Invoice& i) { return i.sale_event_id == named; });
      if (!in_memory) {
        const EventRow* sale = find_event(named);
        if (!sale) return Outcome::defer(named);
        if (sale->kind != EventKind::sale) {
          return Outcome::reject(cat("payment names ", named, ", which is not a sale"));
        }
        if (sale->customer_id != ev.customer_id()) {
          return Outcome::reject(cat("invoice ", named, " belongs to another customer"));
        }
      }
    }
    if (st == nullptr || st->currency.empty()) {
      return Outcome::reject(cat("payment for unknown customer ", ev.customer_id(),
                                          " (no sale yet)"));
    }
    if (st->currency != cur) {
      return Outcome::reject(cat("currency ", cur, " differs from the account's currency ",
                                          st->currency));
    }
    auto alloc = allocate(*st, amount, named, /*only_named=*/!named.empty());
    int64_t allocated = 0;
    for (const auto& a : alloc) allocated += a.second;
    const int64_t to_credit = amount - allocated;
    const Lines lines{{tender_account(p.method()), amount, 0},
                                  {kReceivable, 0, allocated},
                                  {kCustomerCredit, 0, to_credit}};
    Adds adds;
    adds.add(st->lifetime_payments, amount);
    adds.add(st->receivable, -allocated);
    adds.add(st->credit, to_credit);
    if (!adds.feasible() || !postable(lines, cur)) {
      return Outcome::reject("payment of " + format_money(amount, cur) +
                             " overflows the account's 64-bit totals");
    }
    adds.commit();
    settle(*st, alloc, t, /*by_payment=*/true);
    post(*st, ev, "payment", t, cur, lines, -allocated, b);
    put_event({ev.event_id(), ev.customer_id(), EventKind::payment, t, amount, 0, -1, cur});
    touch(*st, t, b);
    return Outcome::ok();
  }

  Outcome apply_feedback(const v1::PosEvent& ev, Micros t, Batch& b) {
    const int32_t score = ev.feedback().score();
    if (score < 0 || score > 10) {
      return Outcome::reject(cat("feedback score ", score, " outside 0-10"));
    }
    Target tg = target(ev.customer_id());
    CustomerState& c = adopt(tg);
    ++c.feedback_count;
    c.feedback_score_sum += score;
    if (score >= 9) {
      ++c.promoters;
    } else if (score >= 7) {
      ++c.passives;
    } else {
      ++c.detractors;
    }
    if (!c.feedback_last || t > *c.feedback_last) c.feedback_last = t;
    put_event({ev.event_id(), ev.customer_id(), EventKind::feedback, t, score, 0, -1, ""});
    touch(c, t, b);
    return Outcome::ok();
  }

  // --- helpers ----------------------------------------------------------------------

  static MonthTotals month_of(const CustomerState& st, int32_t key) {
    auto it = st.months.find(key);
    return it == st.months.end() ? MonthTotals{} : it->second;
  }

  static void store_month(CustomerState& st, int32_t key, const MonthTotals& m) {
    st.months[key] = m;
    while (st.months.size() > static_cast<size_t>(kMonthsKept)) st.months.erase(st.months.begin());
  }

  // Splits `amount` over open invoices: the named one first, then (unless only_named)
  // the oldest by due date. Returns (invoice index, amount) pairs; changes nothing.
  static std::vector<std::pair<size_t, int64_t>> allocate(const CustomerState& st, int64_t amount,
                                                          std::string_view named, bool only_named) {
    std::vector<size_t> order;
    for (size_t i = 0; i < st.invoices.size(); ++i) {
      if (st.invoices[i].open > 0) order.push_back(i);
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const Invoice& x = st.invoices[a];
      const Invoice& y = st.invoices[b];
      bool xn = x.sale_event_id == named, yn = y.sale_event_id == named;
      if (xn != yn) return xn;
      if (x.due != y.due) return x.due < y.due;
      return x.issued < y.issued;
    });
    std::vector<std::pair<size_t, int64_t>> out;
    for (size_t i : order) {
      if (amount == 0) break;
      if (only_named && st.invoices[i].sale_event_id != named) break;
      int64_t take = std::min(amount, st.invoices[i].open);
      out.emplace_back(i, take);
      amount -= take;
    }
    return out;
  }

  static void settle(CustomerState& st, const std::vector<std::pair<size_t, int64_t>>& alloc,
                     Micros t, bool by_payment) {
    for (const auto& [i, take] : alloc) {
      Invoice& inv = st.invoices[i];
      inv.open -= take;
      inv.dirty = true;
      if (inv.open == 0) {
        inv.closed = t;
        inv.closed_by_payment = by_payment;
      }
    }
  }

  bool postable(const Lines& lines, const std::string& currency) const {
    for (const auto& l : lines) {
      auto it = balances_.find(std::pair{l.account, std::string_view(currency)});
      int64_t d = it == balances_.end() ? 0 : it->second.first;
      int64_t c = it == balances_.end() ? 0 : it->second.second;
      if (!checked_add(d, l.debit, d) || !checked_add(c, l.credit, c)) return false;
    }
    return true;
  }

  // Writes the journal entry (balanced by construction) and moves the ledger balances.
  void post(CustomerState& st, const v1::PosEvent& ev, std::string_view kind, Micros t,
            const std::string& currency, const Lines& lines, int64_t receivable_delta,
            Batch& b) {
    // A v1::JournalEntry encoded by hand: the bytes SerializeAsString() would produce.
    std::string entry;
    entry.reserve(64 + ev.event_id().size() + ev.customer_id().size() + 32 * lines.size());
    wire::string_field(entry, 1, ev.event_id());
    wire::string_field(entry, 2, ev.customer_id());
    wire::string_field(entry, 3, kind);
    wire::timestamp_field(entry, 4, t);
    wire::string_field(entry, 5, currency);
    for (const auto& l : lines) {
      if (l.debit == 0 && l.credit == 0) continue;
      size_t len = 1 + wire::varint_size(l.account.size()) + l.account.size();
      if (l.debit != 0) len += 1 + wire::varint_size(static_cast<uint64_t>(l.debit));
      if (l.credit != 0) len += 1 + wire::varint_size(static_cast<uint64_t>(l.credit));
      wire::tag(entry, 6, 2);
      wire::varint(entry, len);
      wire::string_field(entry, 1, l.account);
      wire::int64_field(entry, 2, l.debit);
      wire::int64_field(entry, 3, l.credit);
      auto& bal = balance_slot(balances_, l.account, currency);
      bal.first += l.debit;
      bal.second += l.credit;
      auto& delta = balance_slot(b.balance_deltas, l.account, currency);
      delta.first += l.debit;
      delta.second += l.credit;
    }
    wire::int64_field(entry, 7, st.receivable);
    b.changes.journal.push_back({st.customer_id, ++st.journal_seq, t, receivable_delta,
                                 std::move(entry)});
  }

  void touch(CustomerState& st, Micros t, Batch& b) {
    st.last_event_time = std::max(st.last_event_time, t);
    if (st.batch != b.number) {
      st.batch = b.number;
      b.changed.push_back(&st);
      b.result.changed_customers.push_back(st.customer_id);
    }
    b.max_event_time = std::max(b.max_event_time, t);
  }

  void defer(const v1::PosEvent& ev, Micros t, const Source& src, const std::string& waiting_for,
             Batch& b) {
    DeferredRow row;
    row.event_id = ev.event_id();
    row.waiting_for = waiting_for;
    row.customer_id = ev.customer_id();
    row.topic = std::string(src.topic);
    row.partition = src.partition;
    row.offset = src.offset;
    row.since = ev.has_received_time() ? to_micros(ev.received_time()) : t;
    row.value = std::string(src.value);
    b.changes.deferred.push_back(std::move(row));
    put_event({ev.event_id(), ev.customer_id(), EventKind::deferred, t, 0, 0, -1, ""});
    ++deferred_index_[waiting_for];
    ++deferred_total_;
    ++b.result.deferred;
  }

  void release_waiting(const std::string& sale_id, Batch& b) {
    auto it = deferred_index_.find(sale_id);
    if (it == deferred_index_.end()) return;
    deferred_index_.erase(it);
    sync();  // the deferred rows of a batch still being written must be in the store
    // Rows stored by earlier transactions, and rows deferred earlier in this batch.
    auto rows = store_->load_deferred(sale_id);
    for (const auto& row : rows) b.changes.deleted_deferred.push_back(row.event_id);
    auto& pending = b.changes.deferred;
    for (auto p = pending.begin(); p != pending.end();) {
      if (p->waiting_for == sale_id) {
        rows.push_back(std::move(*p));
        p = pending.erase(p);
      } else {
        ++p;
      }
    }
    std::stable_sort(rows.begin(), rows.end(), [](const DeferredRow& x, const DeferredRow& y) {
      return std::tie(x.partition, x.offset) < std::tie(y.partition, y.offset);
    });
    deferred_total_ -= static_cast<int64_t>(rows.size());
    for (const auto& row : rows) {
      erase_event(row.event_id);
      Source src{row.topic, row.partition, row.offset, {}, row.value};
      v1::PosEvent ev;
      if (!ev.ParseFromString(row.value)) {
        reject(src, row.event_id, row.customer_id, "unparseable bytes: not a tierflow.v1.PosEvent", b);
        continue;
      }
      handle_event(ev, src, /*released=*/true, b);
    }
  }

  bool is_balanced() const {
    std::map<std::string_view, __int128> net;
    for (const auto& [key, dc] : balances_) net[key.second] += static_cast<__int128>(dc.first) - dc.second;
    return std::all_of(net.begin(), net.end(), [](const auto& kv) { return kv.second == 0; });
  }

  static bool prunable(const Invoice& i, Micros keep_since) {
    return i.open == 0 && i.closed && *i.closed < keep_since;
  }

  // Drops closed invoices older than the payment window from memory (the store keeps them).
  static void prune(CustomerState& st) {
    const Micros keep_since = st.last_event_time - kClosedInvoiceWindow;
    std::erase_if(st.invoices, [&](const Invoice& i) { return prunable(i, keep_since); });
    for (auto& inv : st.invoices) inv.dirty = false;
  }

  // Collects the batch's changes for Store::write. The snapshots leave out the invoices
  // prune() drops after the commit, so a snapshot equals what a reload would produce.
  void flush(Batch& b) {
    Changes& ch = b.changes;
    google::protobuf::ArenaOptions arena_options;
    arena_options.start_block_size = 64 * 1024;
    arena_options.max_block_size = 1024 * 1024;
    google::protobuf::Arena arena(arena_options);  // the snapshots' messages while encoding
    ch.customers.reserve(b.changed.size());
    ch.outbox.reserve(ch.outbox.size() + b.changed.size());
    for (CustomerState* changed : b.changed) {
      CustomerState& st = *changed;
      const std::string& id = st.customer_id;
      ++st.version;
      CustomerRow& row = ch.customers.emplace_back();
      row.customer_id = st.customer_id;
      row.version = st.version;
      row.journal_seq = st.journal_seq;
      row.feedback_score_sum = st.feedback_score_sum;
      row.last_event_time = st.last_event_time;
      row.stored = st.stored;
      st.stored = true;  // this batch writes it
      for (const auto& inv : st.invoices) {
        if (inv.dirty) row.invoices.push_back(inv);
      }
      const Micros keep_since = st.last_event_time - kClosedInvoiceWindow;
      std::string payload;
      if (std::any_of(st.invoices.begin(), st.invoices.end(),
                      [&](const Invoice& i) { return prunable(i, keep_since); })) {
        std::vector<Invoice> kept;
        for (const auto& i : st.invoices) {
          if (!prunable(i, keep_since)) kept.push_back(i);
        }
        encode_state_and_snapshot(st, kept, b.max_event_time, arena, row.state, payload);
      } else {
        encode_state_and_snapshot(st, st.invoices, b.max_event_time, arena, row.state, payload);
      }
      ch.outbox.push_back({std::string(kAccountsTopic), id, std::move(payload), {}, st.version,
                           b.max_event_time});
    }
    for (const auto& key : b.dirty_offsets) {
      ch.offsets.push_back({key.first, key.second, offsets_.at(key)});
    }
    for (const auto& [key, dc] : b.balance_deltas) {
      ch.balances.push_back({key.first, key.second, dc.first, dc.second});
    }
    for (auto& [id, slot] : events_) {
      if (!slot.dirty) continue;
      if (slot.row) {
        ch.events.push_back(*slot.row);
      } else if (slot.in_store) {
        ch.deleted_events.push_back(id);
      }
    }
    if (!is_balanced()) throw std::logic_error("ledger: trial balance not zero; batch not stored");
  }

  std::unique_ptr<Store> store_;  // a LockedStore when pipelined
  Options options_;
  // Pipelined only: writes and commits the previous batch (declared after store_, so it
  // stops first), and what that batch changed, until its commit is seen.
  std::unique_ptr<BatchWriter> writer_;
  uint64_t batches_ = 0;  // apply() calls so far: Batch::number
  StringMap<EventSlot> inflight_events_;  // its events_: the dirty slots are what it changed
  std::map<std::pair<std::string, int32_t>, int64_t> offsets_;
  // Totals as this instance knows them (loaded at open, moved by its own postings): the
  // overflow checks and the per-batch balance check use them.
  BalanceMap balances_;
  StringMap<CustomerState> customers_;
  StringMap<EventSlot> events_;   // the current batch's view of event rows
  StringSet absent_customers_;    // known unknown in the current batch
  StringMap<int64_t> deferred_index_;  // waiting_for -> rows
  int64_t deferred_total_ = 0;
};

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

std::unique_ptr<Ledger> Ledger::open(std::unique_ptr<Store> store) {
  return open(std::move(store), Options{});
}

std::unique_ptr<Ledger> Ledger::open(std::unique_ptr<Store> store, const Options& options) {
  return std::unique_ptr<Ledger>(new Ledger(std::make_unique<Impl>(std::move(store), options)));
}

std::unique_ptr<Ledger> Ledger::open_sqlite(const std::string& path, const Options& options) {
  return open(make_sqlite_store(path), options);
}

std::unique_ptr<Ledger> Ledger::open_postgres(const std::string& url, const Options& options) {
  return open(make_postgres_store(url), options);
}

void Ledger::refresh() { impl_->refresh(); }

void Ledger::sync() { impl_->sync(); }

ApplyResult Ledger::apply(std::span<const ConsumedRecord> batch) { return impl_->apply(batch); }

std::optional<int64_t> Ledger::next_offset(std::string_view topic, int32_t partition) const {
  return impl_->next_offset(topic, partition);
}

std::vector<OutboxMessage> Ledger::pending_outbox(size_t limit) const {
  return impl_->pending_outbox(limit);
}

void Ledger::ack_outbox(int64_t up_to_id) { impl_->ack_outbox(up_to_id); }

std::optional<v1::AccountSnapshot> Ledger::account(std::string_view customer_id,
                                                   absl::Time now) const {
  return impl_->account(customer_id, now);
}

v1::GetStatementResponse Ledger::statement(const v1::GetStatementRequest& request) const {
  return impl_->statement(request);
}

v1::Ageing Ledger::ageing(std::string_view customer_id, absl::Time as_of) const {
  return impl_->ageing(customer_id, as_of);
}

v1::TrialBalance Ledger::trial_balance() const { return impl_->trial_balance(); }

int64_t Ledger::deferred_count() const { return impl_->deferred_count(); }

std::vector<Rejection> Ledger::expire_deferred(absl::Time older_than) {
  return impl_->expire_deferred(older_than, "");
}

std::vector<Rejection> Ledger::expire_deferred(absl::Time now, absl::Duration max_wait) {
  return impl_->expire_deferred(now - max_wait, days_text(max_wait));
}

}  // namespace tierflow::ledger
