#include "service/watcher.h"

namespace tierflow::classification {

bool Watcher::wants(const v1::TierAssignment& a) const {
  return tiers_.empty() || tiers_.contains(a.tier()) || tiers_.contains(a.previous_tier());
}

bool Watcher::offer(const v1::TierAssignment& a) {
  std::lock_guard lock(mu_);
  if (overflowed_ || closed_) return !overflowed_;
  if (!wants(a)) return true;
  if (queue_.size() >= capacity_) {
    overflowed_ = true;
    queue_.clear();
    cv_.notify_all();
    return false;
  }
  queue_.push_back(a);
  cv_.notify_one();
  return true;
}

void Watcher::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

Watcher::Next Watcher::next(v1::TierAssignment* out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return overflowed_ || closed_ || !queue_.empty(); });
  if (overflowed_) return Next::overflowed;
  if (!queue_.empty()) {
    *out = std::move(queue_.front());
    queue_.pop_front();
    return Next::item;
  }
  return closed_ ? Next::closed : Next::timeout;
}

}  // namespace tierflow::classification
