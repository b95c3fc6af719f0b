#include "src/outbox.h"

#include <spdlog/spdlog.h>

#include <limits>

namespace tierflow::notification {

OutboxPublisher::OutboxPublisher(const std::string& store_path, kafka::Producer& producer, int batch)
    : producer_(producer), batch_(batch), acks_(std::make_shared<Acks>()), store_(store_path) {}

size_t OutboxPublisher::harvest(Tick& t) {
  int64_t up_to = 0;
  int64_t lowest_failed = std::numeric_limits<int64_t>::max();
  {
    std::lock_guard lock(acks_->mu);
    auto& m = acks_->by_seq;
    // Only the prefix confirmed without a gap: never past an unconfirmed record.
    for (auto it = m.begin(); it != m.end() && it->second == Ack::ok;) {
      up_to = it->first;
      it = m.erase(it);
      ++t.published;
    }
    for (auto it = m.begin(); it != m.end();) {
      if (it->second == Ack::failed) {
        lowest_failed = std::min(lowest_failed, it->first);
        ++t.failed;
        it = m.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (up_to > 0) store_.mark_published(up_to);
  // A failed record is read and produced again; the records after it still in flight or
  // confirmed are skipped by the ack map.
  if (lowest_failed != std::numeric_limits<int64_t>::max()) cursor_ = std::min(cursor_, lowest_failed - 1);
  return t.published;
}

OutboxPublisher::Tick OutboxPublisher::tick() {
  std::lock_guard lock(mu_);
  Tick t;
  harvest(t);
  {
    std::lock_guard acks(acks_->mu);
    if (acks_->by_seq.size() >= static_cast<size_t>(batch_) * 4) return t;  // bounded in flight
  }
  for (auto& row : store_.outbox_after(cursor_, batch_)) {
    {
      std::lock_guard acks(acks_->mu);
      auto [it, fresh] = acks_->by_seq.try_emplace(row.seq, Ack::pending);
      if (!fresh) {
        cursor_ = row.seq;  // still in flight or confirmed behind a gap
        continue;
      }
    }
    std::vector<kafka::Header> headers{{std::string(kafka::kTypeHeader), "tierflow.v1.Delivery"}};
    if (!row.error.empty()) headers.push_back({std::string(kafka::kErrorHeader), row.error});
    try {
      producer_.produce(row.topic, row.key, row.value, headers,
                        [acks = acks_, seq = row.seq](const kafka::DeliveryReport& r) {
                          if (!r.ok) spdlog::warn("outcome record {} not published, will retry: {}", seq, r.error);
                          std::lock_guard lock(acks->mu);
                          acks->by_seq[seq] = r.ok ? Ack::ok : Ack::failed;
                        });
    } catch (const kafka::KafkaError& e) {
      {
        std::lock_guard acks(acks_->mu);
        acks_->by_seq.erase(row.seq);
      }
      spdlog::warn("outcome record {} not queued, retrying on a later tick: {}", row.seq, e.what());
      t.stopped = true;
      break;
    }
    cursor_ = row.seq;
    ++t.produced;
  }
  return t;
}

void OutboxPublisher::drain(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    producer_.flush(left);
    const Tick t = tick();
    if (t.produced == 0 && t.failed == 0 && !t.stopped && in_flight() == 0) {
      tick();  // marks the last confirmed ones
      return;
    }
  }
}

size_t OutboxPublisher::in_flight() const {
  std::lock_guard lock(acks_->mu);
  size_t n = 0;
  for (const auto& [seq, a] : acks_->by_seq) n += a == Ack::pending;
  return n;
}

}  // namespace tierflow::notification
