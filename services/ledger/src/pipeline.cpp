#include "pipeline.h"

#include <pthread.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "tierflow/ledger/ledger.h"

namespace tierflow::ledger {

std::optional<std::vector<OutboxMessage>> Store::committed_outbox(size_t /*limit*/) {
  return std::nullopt;
}

// --- LockedStore ------------------------------------------------------------------------

void LockedStore::begin() {
  std::lock_guard lock(write_mu_);
  inner_->begin();
}
void LockedStore::commit() {
  std::lock_guard lock(write_mu_);
  inner_->commit();
}
void LockedStore::rollback() noexcept {
  std::lock_guard lock(write_mu_);
  inner_->rollback();
}
std::vector<OffsetRow> LockedStore::load_offsets() {
  std::lock_guard lock(side_);
  return inner_->load_offsets();
}
std::vector<BalanceRow> LockedStore::load_balances() {
  std::lock_guard lock(side_);
  return inner_->load_balances();
}
std::vector<std::string> LockedStore::deferred_keys() {
  std::lock_guard lock(side_);
  return inner_->deferred_keys();
}
std::vector<EventRow> LockedStore::find_events(const std::vector<std::string_view>& ids) {
  std::lock_guard lock(side_);
  return inner_->find_events(ids);
}
std::vector<CustomerState> LockedStore::load_customers(const std::vector<std::string_view>& ids,
                                                       Micros closed_window) {
  std::lock_guard lock(side_);
  return inner_->load_customers(ids, closed_window);
}
std::vector<DeferredRow> LockedStore::load_deferred(std::string_view waiting_for) {
  std::lock_guard lock(side_);
  return inner_->load_deferred(waiting_for);
}
std::vector<DeferredRow> LockedStore::load_deferred_before(Micros before) {
  std::lock_guard lock(side_);
  return inner_->load_deferred_before(before);
}
std::vector<JournalRow> LockedStore::read_journal(std::string_view customer_id, Micros from,
                                                  Micros to, int64_t after_seq, size_t limit) {
  std::lock_guard lock(side_);
  return inner_->read_journal(customer_id, from, to, after_seq, limit);
}
int64_t LockedStore::receivable_before(std::string_view customer_id, Micros before) {
  std::lock_guard lock(side_);
  return inner_->receivable_before(customer_id, before);
}
std::vector<OutboxMessage> LockedStore::pending_outbox(size_t limit) {
  std::lock_guard lock(side_);
  return inner_->pending_outbox(limit);
}
std::optional<std::vector<OutboxMessage>> LockedStore::committed_outbox(size_t limit) {
  std::lock_guard lock(side_);
  return inner_->committed_outbox(limit);
}
void LockedStore::write(const Changes& changes) {
  std::lock_guard lock(write_mu_);
  inner_->write(changes);
}
void LockedStore::ack_outbox(int64_t up_to_id) {
  std::lock_guard lock(side_);
  inner_->ack_outbox(up_to_id);
}

// --- BatchWriter ------------------------------------------------------------------------

BatchWriter::BatchWriter(Store& store, size_t rows_per_write)
    : store_(store), rows_per_write_(rows_per_write), thread_([this] { run(); }) {}

BatchWriter::~BatchWriter() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BatchWriter::hand_off(Changes changes) {
  {
    std::lock_guard lock(mu_);
    next_ = std::move(changes);
    busy_ = true;
  }
  cv_.notify_all();
}

void BatchWriter::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !busy_; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void BatchWriter::run() {
  pthread_setname_np(pthread_self(), "ledger-writer");  // as top and perf show it
  for (;;) {
    Changes changes;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return next_.has_value() || stopping_; });
      if (!next_) return;
      changes = std::move(*next_);
      next_.reset();
    }
    std::exception_ptr error;
    try {
      write_and_commit(changes);
    } catch (...) {
      error = std::current_exception();
      store_.rollback();
    }
    {
      std::lock_guard lock(mu_);
      error_ = error;
      busy_ = false;
    }
    cv_.notify_all();
  }
}

namespace {

// Moves up to `room` elements of `from`, starting at `pos`, to the end of `to`.
template <typename T>
size_t take(std::vector<T>& from, size_t& pos, std::vector<T>& to, size_t room) {
  const size_t n = std::min(room, from.size() - pos);
  for (size_t i = 0; i < n; ++i) to.push_back(std::move(from[pos + i]));
  pos += n;
  return n;
}

}  // namespace

void sort_by_key(Changes& changes) {
  std::sort(changes.events.begin(), changes.events.end(),
            [](const EventRow& a, const EventRow& b) { return a.event_id < b.event_id; });
  std::sort(changes.customers.begin(), changes.customers.end(),
            [](const CustomerRow& a, const CustomerRow& b) { return a.customer_id < b.customer_id; });
  std::sort(changes.journal.begin(), changes.journal.end(), [](const JournalRow& a, const JournalRow& b) {
    return std::tie(a.customer_id, a.seq) < std::tie(b.customer_id, b.seq);
  });
}

// Writes the lists in the order one write() call would (see the stores), in parts.
void BatchWriter::write_and_commit(Changes& all) {
  sort_by_key(all);
  store_.begin();
  if (all.rows() <= rows_per_write_) {
    store_.write(all);
    store_.commit();
    return;
  }
  Changes part;
  size_t rows = 0;
  auto flush = [&] {
    if (rows == 0) return;
    store_.write(part);
    part = Changes{};
    rows = 0;
  };
  auto feed = [&](auto member) {
    auto& from = all.*member;
    size_t pos = 0;
    while (pos < from.size()) {
      rows += take(from, pos, part.*member, rows_per_write_ - rows);
      if (rows >= rows_per_write_) flush();
    }
  };
  feed(&Changes::offsets);
  feed(&Changes::deleted_events);
  feed(&Changes::events);
  feed(&Changes::customers);
  feed(&Changes::journal);
  feed(&Changes::deleted_deferred);
  feed(&Changes::deferred);
  feed(&Changes::outbox);
  feed(&Changes::balances);
  flush();
  store_.commit();
}

}  // namespace tierflow::ledger
