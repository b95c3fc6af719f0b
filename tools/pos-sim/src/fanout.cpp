#include "fanout.h"

#include <functional>

namespace tierflow::pos_sim {

class Fanout::Lane final : public EventSource {
 public:
  Lane(Fanout& f, int k) : f_(f), k_(k) {}
  bool next(tierflow::v1::PosEvent* out) override { return f_.next(k_, out); }
  double progress() const override { return f_.inner_.progress(); }

 private:
  Fanout& f_;
  int k_;
};

Fanout::Fanout(EventSource& inner, int lanes) : inner_(inner), kept_(static_cast<size_t>(lanes)) {
  for (int k = 0; k < lanes; ++k) lanes_.push_back(std::make_unique<Lane>(*this, k));
}

Fanout::~Fanout() = default;

EventSource& Fanout::lane(int k) { return *lanes_[static_cast<size_t>(k)]; }

bool Fanout::next(int k, tierflow::v1::PosEvent* out) {
  std::lock_guard lock(mu_);
  auto& mine = kept_[static_cast<size_t>(k)];
  if (!mine.empty()) {
    out->Swap(&mine.front());
    mine.pop_front();
    return true;
  }
  const size_t n = kept_.size();
  tierflow::v1::PosEvent e;
  while (!done_ && inner_.next(&e)) {
    const size_t lane = std::hash<std::string>{}(e.customer_id()) % n;
    if (lane == static_cast<size_t>(k)) {
      out->Swap(&e);
      return true;
    }
    kept_[lane].push_back(std::move(e));
    e = tierflow::v1::PosEvent();
  }
  done_ = true;
  return false;
}

}  // namespace tierflow::pos_sim
