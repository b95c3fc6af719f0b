// Splits one event source over several streams (tills), keeping each customer's events
// on one stream in source order (a refund never overtakes its sale across streams).
// Thread-safe: each lane is pulled by its own thread. An event for another lane is kept
// for it; memory grows only with how far the slowest lane lags.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "sender.h"

namespace tierflow::pos_sim {

class Fanout {
 public:
  Fanout(EventSource& inner, int lanes);
  ~Fanout();
  EventSource& lane(int k);
  int lanes() const { return static_cast<int>(lanes_.size()); }

 private:
  class Lane;
  bool next(int k, tierflow::v1::PosEvent* out);

  EventSource& inner_;
  std::mutex mu_;
  std::vector<std::deque<tierflow::v1::PosEvent>> kept_;  // guarded by mu_
  bool done_ = false;                                     // guarded by mu_
  std::vector<std::unique_ptr<EventSource>> lanes_;
};

}  // namespace tierflow::pos_sim
