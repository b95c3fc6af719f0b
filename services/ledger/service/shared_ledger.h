// The ledger core behind one mutex: the only way the service's parts reach it. The
// consumer loop's thread (handler, relay) and gRPC's threads (LedgerService) call it
// concurrently; every call is serialised here. Calls may block on the store (a read waits
// for the batch being written), never on Kafka: no part holds the lock while producing.
#pragma once

#include <absl/base/thread_annotations.h>

#include <memory>
#include <mutex>
#include <utility>

#include "tierflow/ledger/ledger.h"

namespace tierflow::ledger {

class SharedLedger {
 public:
  explicit SharedLedger(std::unique_ptr<Ledger> ledger) : ledger_(std::move(ledger)) {}

  // Runs fn(Ledger&) under the lock and returns what it returns (or throws what it throws).
  template <typename Fn>
  auto with(Fn&& fn) {
    std::lock_guard lock(mu_);
    return fn(*ledger_);
  }

 private:
  std::mutex mu_;
  std::unique_ptr<Ledger> ledger_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tierflow::ledger
