// One WatchTierChanges caller's queue of published changes.
//
// Lifecycle: made by TierPublisher::watch for one call, shared by the publisher (which
// offers changes until the call unwatches, the watcher overflows, or shutdown closes it)
// and the gRPC handler (which reads it).
// Threading: thread-safe. offer/close from the publishing thread never block; next blocks
// the gRPC handler thread up to its timeout.
#pragma once

#include <absl/base/thread_annotations.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tierflow/v1/tier.pb.h"

namespace tierflow::classification {

class Watcher {
 public:
  // `tiers`: the changes into or out of these tiers (all changes when empty).
  Watcher(std::vector<std::string> tiers, size_t capacity) : tiers_(tiers.begin(), tiers.end()), capacity_(capacity) {}

  // False when this watcher overflowed (the publisher then forgets it): once `capacity`
  // changes are queued the watcher is dropped rather than slowing the publisher.
  bool offer(const v1::TierAssignment& a);
  void close();

  enum class Next { item, timeout, overflowed, closed };
  // Waits up to `timeout` for the next change.
  Next next(v1::TierAssignment* out, std::chrono::milliseconds timeout);

 private:
  bool wants(const v1::TierAssignment& a) const;
  const std::set<std::string> tiers_;
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::TierAssignment> queue_ ABSL_GUARDED_BY(mu_);
  bool overflowed_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tierflow::classification
