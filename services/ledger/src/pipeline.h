// The two pieces of a pipelined Ledger (Options::pipeline): a Store that serialises calls
// from two threads, and the writer thread that writes and commits one batch while the
// caller processes the next. Internal to the ledger.
#pragma once

#include <absl/base/thread_annotations.h>

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "tierflow/ledger/store.h"

namespace tierflow::ledger {

// Sorts the rows of a transaction by their keys (events by id, customers by id, journal
// rows by customer and sequence), so B-tree inserts walk neighbouring pages instead of
// landing at random. Outbox and deferred rows keep their order.
void sort_by_key(Changes& changes);

// Forwards every call to `inner` under a mutex, so the writer thread's calls and the
// caller's never use one connection at once. One mutex for everything, or, when the inner
// store reads beside its writes (its own connection), one for begin/write/commit/rollback
// and one for the rest. A transaction's write() calls may be interleaved with reads (see
// Store's contract).
class LockedStore final : public Store {
 public:
  explicit LockedStore(std::unique_ptr<Store> inner)
      : inner_(std::move(inner)), side_(inner_->reads_beside_writes() ? side_mu_ : write_mu_) {}

  void begin() override;
  void commit() override;
  void rollback() noexcept override;
  std::vector<OffsetRow> load_offsets() override;
  std::vector<BalanceRow> load_balances() override;
  std::vector<std::string> deferred_keys() override;
  std::vector<EventRow> find_events(const std::vector<std::string_view>& ids) override;
  std::vector<CustomerState> load_customers(const std::vector<std::string_view>& ids,
                                            Micros closed_window) override;
  std::vector<DeferredRow> load_deferred(std::string_view waiting_for) override;
  std::vector<DeferredRow> load_deferred_before(Micros before) override;
  std::vector<JournalRow> read_journal(std::string_view customer_id, Micros from, Micros to,
                                       int64_t after_seq, size_t limit) override;
  int64_t receivable_before(std::string_view customer_id, Micros before) override;
  std::vector<OutboxMessage> pending_outbox(size_t limit) override;
  std::optional<std::vector<OutboxMessage>> committed_outbox(size_t limit) override;
  void write(const Changes& changes) override;
  void ack_outbox(int64_t up_to_id) override;
  bool reads_beside_writes() const override { return inner_->reads_beside_writes(); }

 private:
  std::mutex write_mu_, side_mu_;
  std::unique_ptr<Store> inner_;
  std::mutex& side_;  // side_mu_, or write_mu_ when the store has one connection
};

// One thread that takes a batch's Changes, writes them in parts of about `rows_per_write`
// rows (so a read waits for one part, not the whole batch) and commits. At most one batch
// is handed over at a time: hand_off() requires wait() to have returned since the last one.
class BatchWriter {
 public:
  BatchWriter(Store& store, size_t rows_per_write);
  ~BatchWriter();  // finishes the batch handed over (its error is dropped), then stops
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  void hand_off(Changes changes);
  // Waits until the batch handed over is committed or rolled back; rethrows what its
  // write or commit threw (once). Returns at once when nothing was handed over.
  void wait();

 private:
  void run();
  void write_and_commit(Changes& changes);

  Store& store_;
  const size_t rows_per_write_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Changes> next_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // a batch was handed over and is not yet committed or rolled back
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::exception_ptr error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace tierflow::ledger
