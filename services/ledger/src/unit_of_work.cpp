#include "unit_of_work.h"

#include <algorithm>
#include <tuple>

#include <google/protobuf/arena.h>

#include "batch_poster.h"
#include "common/money/money.h"
#include "dlq.h"
#include "snapshot_rows.h"
#include "state.h"
#include "text.h"
#include "tierflow/v1/events.pb.h"

namespace tierflow::ledger {
namespace {

// Rows per Store::write() call of a pipelined ledger: a read waits for at most one part.
constexpr size_t kRowsPerWrite = 2048;

// A snapshot's outbox row. The payload is kept (version 0 for the store: no rebuild): a
// snapshot cut in the middle of a batch, or one a later batch supersedes before the relay
// reads the table, cannot be rebuilt from the customer's newest state, and a reader needs
// every customer's last snapshot of each day (README, "Snapshot clock").
OutboxRow snapshot_row(const CustomerState& st, std::string payload) {
  return {std::string(topics::kAccounts), st.customer_id, std::move(payload), {}, 0, st.last_event_time};
}

// The partition's LedgerWatermark record, for the same partition of ledger.accounts.v1.
OutboxRow watermark_row(int32_t partition, const PartitionCursor& cur, const Options& options) {
  v1::LedgerWatermark mark;
  mark.set_partition(partition);
  set_timestamp(partition_watermark(cur.max_event_time, options.allowed_lateness), mark.mutable_watermark());
  mark.set_input_offset(cur.next_offset);
  return {std::string(topics::kAccounts), cat(kWatermarkKeyPrefix, partition), mark.SerializeAsString(), {}, 0, 0};
}

std::pair<int64_t, int64_t>& balance_slot(BalanceMap& m, std::string_view account, std::string_view currency) {
  auto it = m.find(std::pair{account, currency});
  if (it == m.end()) {
    it = m.emplace(std::pair{std::string(account), std::string(currency)}, std::pair<int64_t, int64_t>{0, 0}).first;
  }
  return it->second;
}

}  // namespace

UnitOfWork::UnitOfWork(std::unique_ptr<Store> store, const Options& options)
    : store_(options.pipeline ? std::make_unique<LockedStore>(std::move(store)) : std::move(store)),
      options_(options),
      days_(options.snapshot_day_zone) {
  load_caches();
  if (options_.pipeline) {
    // Parts only matter when reads wait for the writer's calls; otherwise one call.
    writer_ = std::make_unique<BatchWriter>(
        *store_, store_->reads_beside_writes() ? std::numeric_limits<size_t>::max() : kRowsPerWrite);
  }
}

// --- batches ---------------------------------------------------------------------------

ApplyResult UnitOfWork::apply(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned,
                              const Ledger::ConfirmFn& confirm) {
  return writer_ ? apply_pipelined(batch, owned, confirm) : apply_serial(batch, owned, confirm);
}

ApplyResult UnitOfWork::apply_serial(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned,
                                     const Ledger::ConfirmFn& confirm) {
  ApplyResult result;
  Batch b{result, ++batches_};
  store_->begin();
  try {
    process_batch(batch, owned, confirm, b);
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

// Processes the batch while the writer still writes the previous one, then waits for that
// commit and hands this batch over. Reads during processing see the previous batch's
// changes through the cache (its customers) and inflight_events_.
ApplyResult UnitOfWork::apply_pipelined(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned,
                                        const Ledger::ConfirmFn& confirm) {
  ApplyResult result;
  Batch b{result, ++batches_};
  try {
    process_batch(batch, owned, confirm, b);
    writer_->wait();  // the previous batch is committed, or its failure is thrown here
  } catch (...) {
    discard_uncommitted();
    throw;
  }
  inflight_events_.swap(events_);  // the rows it changed are those marked dirty
  for (CustomerState* st : b.changed) prune(*st);
  end_batch();
  if (customers_.size() > options_.customer_cache_capacity) {
    // Customers of the batch being written stay: the store does not have them yet. They
    // carry its number (touch()).
    absl::erase_if(customers_, [&](const auto& kv) { return kv.second.batch != b.number; });
  }
  writer_->hand_off(std::move(b.changes));
  return result;
}

void UnitOfWork::sync() {
  if (!writer_) return;
  try {
    writer_->wait();
  } catch (...) {
    discard_uncommitted();
    throw;
  }
  inflight_events_.clear();
}

void UnitOfWork::refresh() {
  sync();
  end_batch();
  load_caches();
}

void UnitOfWork::load_caches() {
  customers_.clear();
  balances_.clear();
  offsets_.clear();
  for (auto& o : store_->load_offsets()) {
    offsets_[{std::move(o.topic), o.partition}] = {o.next_offset, o.max_event_time};
  }
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

void UnitOfWork::end_batch() {
  events_.clear();
  absent_customers_.clear();
}

// After a failure: waits for the writer (dropping its error: the caller rethrows one), then
// forgets every change not stored and reloads what the store holds.
void UnitOfWork::discard_uncommitted() {
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
void UnitOfWork::process_batch(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned,
                               const Ledger::ConfirmFn& confirm, Batch& b) {
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 256 * 1024;
  arena_options.max_block_size = 4 * 1024 * 1024;
  google::protobuf::Arena arena(arena_options);
  auto parsed = prefetch(batch, arena);
  BatchPoster poster(*this, b);
  for (size_t i = 0; i < batch.size(); ++i) poster.process_record(batch[i], parsed[i]);
  mark_idle(owned, confirm, b);
  flush(b);
}

// --- idle partitions (README, "Idle partitions") ----------------------------------------

Micros UnitOfWork::idle_target(std::span<const OwnedPartition> owned) const {
  if (!options_.watermark_records || owned.empty()) return kNoEventTime;
  Micros newest = kNoEventTime;
  for (const auto& p : owned) {
    auto it = offsets_.find(std::pair<std::string_view, int32_t>{p.topic, p.partition});
    if (it == offsets_.end()) continue;
    newest = std::max(newest, partition_watermark(it->second.max_event_time, options_.allowed_lateness));
  }
  if (newest == kNoEventTime) return kNoEventTime;
  return newest - absl::ToInt64Microseconds(options_.idle_partition_after);
}

// Caught up, at the position the ledger stands at (a consumer position that disagrees with
// the stored offset is not trusted), and behind the target.
bool UnitOfWork::is_idle(const OwnedPartition& p, const PartitionCursor* cur, Micros target) const {
  if (!p.caught_up || p.next_offset < 0) return false;
  if (cur == nullptr) return true;
  if (cur->next_offset != p.next_offset) return false;
  return partition_watermark(cur->max_event_time, options_.allowed_lateness) < target;
}

bool UnitOfWork::has_idle_marks(std::span<const OwnedPartition> owned) const {
  const Micros target = idle_target(owned);
  if (target == kNoEventTime) return false;
  for (const auto& p : owned) {
    auto it = offsets_.find(std::pair<std::string_view, int32_t>{p.topic, p.partition});
    if (is_idle(p, it == offsets_.end() ? nullptr : &it->second, target)) return true;
  }
  return false;
}

// The advanced watermark is kept as the cursor's clock base (max_event_time = target +
// lateness, so partition_watermark() gives the target): stored with the offset in this
// transaction, and the floor of the partition's next records like any watermark.
void UnitOfWork::mark_idle(std::span<const OwnedPartition> owned, const Ledger::ConfirmFn& confirm, Batch& b) {
  const Micros target = idle_target(owned);
  if (target == kNoEventTime) return;
  for (const auto& p : owned) {
    auto it = offsets_.find(std::pair<std::string_view, int32_t>{p.topic, p.partition});
    if (!is_idle(p, it == offsets_.end() ? nullptr : &it->second, target)) continue;
    if (confirm && !confirm(p)) continue;  // e.g. records written since the consumer's last fetch
    if (it == offsets_.end()) {
      it = offsets_.emplace(std::make_pair(std::string(p.topic), p.partition), PartitionCursor{p.next_offset}).first;
    }
    PartitionCursor& cur = it->second;
    cur.max_event_time = target + absl::ToInt64Microseconds(options_.allowed_lateness);
    if (cur.batch != b.number) {
      cur.batch = b.number;
      b.dirty_offsets.insert(it->first);
    }
  }
}

// Parses the batch and reads, in two store calls, the event rows and customers it names,
// so processing rarely goes back to the store. Records below their partition's resume
// point are not parsed (BatchPoster skips them). The events are allocated on `arena`;
// nullptr for a record not parsed or not parseable.
std::vector<const v1::PosEvent*> UnitOfWork::prefetch(std::span<const ConsumedRecord> batch,
                                                      google::protobuf::Arena& arena) {
  std::vector<const v1::PosEvent*> parsed(batch.size(), nullptr);
  std::vector<std::string_view> ids, customers;
  StringSet wanted_customers;
  ids.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& rec = batch[i];
    auto it = offsets_.find(std::pair<std::string_view, int32_t>{rec.topic, rec.partition});
    if (it != offsets_.end() && rec.offset < it->second.next_offset) continue;
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

// Collects the batch's changes for Store::write.
void UnitOfWork::flush(Batch& b) {
  Changes& ch = b.changes;
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 64 * 1024;
  arena_options.max_block_size = 1024 * 1024;
  google::protobuf::Arena arena(arena_options);  // the snapshots' messages while encoding
  ch.customers.reserve(b.changed.size());
  ch.outbox.reserve(ch.outbox.size() + b.changed.size());
  for (CustomerState* changed : b.changed) {
    CustomerState& st = *changed;
    CustomerRow& row = ch.customers.emplace_back();
    std::string payload;
    // As of the customer's own snapshot clock (touch()): never another customer's, so the
    // snapshot does not depend on what else shared its batch (issue 10).
    stage_customer(st, st.last_event_time, arena, row, payload);
    if (st.backfill) mark_backfill(payload);
    ch.outbox.push_back(snapshot_row(st, std::move(payload)));
  }
  // After the snapshots: a reader that sees a partition's mark has seen every snapshot
  // the marked records gave.
  for (const auto& key : b.dirty_offsets) {
    const PartitionCursor& cur = offsets_.at(key);
    ch.offsets.push_back({key.first, key.second, cur.next_offset, cur.max_event_time});
    if (options_.watermark_records && cur.max_event_time != kNoEventTime)
      ch.outbox.push_back(watermark_row(key.second, cur, options_));
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

bool UnitOfWork::is_balanced() const {
  std::map<std::string_view, __int128> net;
  for (const auto& [key, dc] : balances_) net[key.second] += static_cast<__int128>(dc.first) - dc.second;
  return std::all_of(net.begin(), net.end(), [](const auto& kv) { return kv.second == 0; });
}

// --- outside batches -------------------------------------------------------------------

std::optional<int64_t> UnitOfWork::next_offset(std::string_view topic, int32_t partition) const {
  auto it = offsets_.find(std::pair<std::string_view, int32_t>{topic, partition});
  if (it == offsets_.end()) return std::nullopt;
  return it->second.next_offset;
}

// Pipelined: what is committed so far, from the store's memory when it can tell without
// waiting for the batch being written.
std::vector<OutboxMessage> UnitOfWork::pending_outbox(size_t limit) {
  if (writer_) {
    if (auto rows = store_->committed_outbox(limit)) return std::move(*rows);
    sync();
  }
  return store_->pending_outbox(limit);
}

const CustomerState* UnitOfWork::lookup(std::string_view id, std::optional<CustomerState>& holder) {
  auto it = customers_.find(id);
  if (it != customers_.end()) return &it->second;
  auto loaded = store_->load_customers({id}, kClosedInvoiceWindow);
  if (loaded.empty()) return nullptr;
  holder = std::move(loaded.front());
  return &*holder;
}

std::vector<Rejection> UnitOfWork::expire_deferred(Micros before, std::string_view window_text) {
  sync();  // the writer is idle until the next apply(): this transaction is the only one
  std::vector<Rejection> out;
  std::vector<DeferredRow> rows;
  store_->begin();
  try {
    rows = store_->load_deferred_before(before);
    Changes changes;
    for (const auto& row : rows) {
      changes.deleted_events.push_back(row.event_id);
      changes.deleted_deferred.push_back(row.event_id);
      Rejection r;
      r.event_id = row.event_id;
      r.customer_id = row.customer_id;
      r.partition = row.partition;
      r.offset = row.offset;
      r.reason = rules::never_arrived(row.waiting_for, before, window_text);
      r.value = row.value;
      if (options_.dlq_in_outbox) changes.outbox.push_back(dlq_row(row.topic, {}, r));
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

// --- the per-batch view ----------------------------------------------------------------

bool UnitOfWork::advance(std::string_view topic, int32_t partition, int64_t offset, Batch& b) {
  auto it = offsets_.find(std::pair<std::string_view, int32_t>{topic, partition});
  if (it != offsets_.end() && offset < it->second.next_offset) return false;
  if (it == offsets_.end())
    it = offsets_.emplace(std::make_pair(std::string(topic), partition), PartitionCursor{}).first;
  PartitionCursor& cur = it->second;
  cur.next_offset = offset + 1;
  b.cursor = &cur;
  b.floor = partition_watermark(cur.max_event_time, options_.allowed_lateness);
  if (cur.batch != b.number) {
    cur.batch = b.number;
    b.dirty_offsets.insert(it->first);
  }
  return true;
}

const EventRow* UnitOfWork::find_event(std::string_view id) {
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

// The slot of `id`, read first when the batch has not seen it (so in_store is known).
UnitOfWork::EventSlot& UnitOfWork::slot(std::string_view id) {
  find_event(id);
  return events_.find(id)->second;
}

void UnitOfWork::put_event(EventRow row) {
  auto& s = slot(row.event_id);
  s.row = std::move(row);
  s.dirty = true;
}

void UnitOfWork::set_refunded(std::string_view id, int64_t refunded) {
  auto& s = slot(id);
  s.row->refunded = refunded;
  s.dirty = true;
}

void UnitOfWork::erase_event(std::string_view id) {
  auto& s = slot(id);
  s.row.reset();
  s.dirty = true;
}

CustomerState* UnitOfWork::find_customer(std::string_view id) {
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

CustomerState& UnitOfWork::add_customer(const std::string& id) {
  CustomerState& st = customers_[id];
  st.customer_id = id;
  return st;
}

bool UnitOfWork::postable(const rules::Lines& lines, std::string_view currency) const {
  for (const auto& l : lines) {
    auto it = balances_.find(std::pair{l.account, currency});
    const int64_t d = it == balances_.end() ? 0 : it->second.first;
    const int64_t c = it == balances_.end() ? 0 : it->second.second;
    if (!money::checked_add(d, l.debit) || !money::checked_add(c, l.credit)) return false;
  }
  return true;
}

void UnitOfWork::move_balances(const rules::Lines& lines, std::string_view currency, Batch& b) {
  for (const auto& l : lines) {
    if (l.debit == 0 && l.credit == 0) continue;
    auto& bal = balance_slot(balances_, l.account, currency);
    bal.first += l.debit;
    bal.second += l.credit;
    auto& delta = balance_slot(b.balance_deltas, l.account, currency);
    delta.first += l.debit;
    delta.second += l.credit;
  }
}

void UnitOfWork::note_event_time(Micros t, Batch& b) {
  if (b.cursor != nullptr) b.cursor->max_event_time = std::max(b.cursor->max_event_time, t);
}

void UnitOfWork::touch(CustomerState& st, Micros t, bool backfill, Batch& b) {
  const Micros as_of = std::max({st.last_event_time, t, b.floor});
  // A customer seen before whose clock moves past the end of its day starts a new day.
  const bool fresh = st.version == 0 && st.batch != b.number;  // no event before this one
  const bool new_day = fresh || (as_of > st.last_event_time && as_of > days_.day_end(st.last_event_time));
  if (st.batch != b.number) {
    st.batch = b.number;
    b.changed.push_back(&st);
    b.result.changed_customers.push_back(st.customer_id);
  } else if (new_day) {
    // The state so far is the customer's at the end of its day: publish it before the
    // event of a later day changes it.
    if (!b.arena) b.arena = std::make_unique<google::protobuf::Arena>();
    std::string payload;
    stage_snapshot(st, st.last_event_time, *b.arena, payload);
    if (st.backfill) mark_backfill(payload);
    b.changes.outbox.push_back(snapshot_row(st, std::move(payload)));
  }
  st.backfill = new_day ? backfill : st.backfill && backfill;
  st.last_event_time = as_of;
}

void UnitOfWork::add_deferred(DeferredRow row, Batch& b) {
  ++deferred_index_[row.waiting_for];
  ++deferred_total_;
  ++b.result.deferred;
  b.changes.deferred.push_back(std::move(row));
}

std::vector<DeferredRow> UnitOfWork::take_waiting(const std::string& sale_id, Batch& b) {
  auto it = deferred_index_.find(sale_id);
  if (it == deferred_index_.end()) return {};
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
  return rows;
}

void UnitOfWork::reject(std::string_view topic, std::string_view key, Rejection r, Batch& b) {
  if (options_.dlq_in_outbox) b.changes.outbox.push_back(dlq_row(topic, key, r));
  b.result.rejected.push_back(std::move(r));
}

}  // namespace tierflow::ledger
