#include "tests/support/fake_kafka.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace tierflow::testing {

// --- FakeProducer -------------------------------------------------------------------------

std::optional<std::string> FakeProducer::Sent::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->name == name) return it->value;
  }
  return std::nullopt;
}

void FakeProducer::produce(std::string_view topic, std::string_view key, std::string_view value,
                           const std::vector<kafka::Header>& headers, DeliveryFn on_delivery) {
  produce_to(topic, -1, key, value, headers, std::move(on_delivery));
}

void FakeProducer::produce_to(std::string_view topic, int32_t partition, std::string_view key,
                              std::string_view value, const std::vector<kafka::Header>& headers,
                              DeliveryFn on_delivery) {
  std::unique_lock lock(mu_);
  ++attempts_;
  if (throw_next_ > 0) {
    --throw_next_;
    throw kafka::KafkaError(throw_error_);
  }
  Pending p{Sent{std::string(topic), std::string(key), std::string(value), headers, partition, value.data() == nullptr},
            std::move(on_delivery)};
  if (mode_ == Mode::manual) {
    pending_.push_back(std::move(p));
    return;
  }
  report(std::move(p), lock);
}

void FakeProducer::report(Pending p, std::unique_lock<std::mutex>& lock) {
  kafka::DeliveryReport r;
  if (fail_next_ > 0) {
    --fail_next_;
    r.ok = false;
    r.error = fail_error_;
  } else {
    r.ok = true;
    r.partition = p.record.partition < 0 ? 0 : p.record.partition;
    r.offset = next_offset_[p.record.topic]++;
    stored_.push_back(p.record);
  }
  // The callback runs without the lock, as librdkafka's do on their own thread: it may
  // produce again.
  lock.unlock();
  p.on_delivery(r);
  lock.lock();
}

bool FakeProducer::flush(std::chrono::milliseconds) {
  std::lock_guard lock(mu_);
  return pending_.empty();
}

int64_t FakeProducer::in_flight() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(pending_.size());
}

void FakeProducer::throw_on_produce(size_t n, std::string error) {
  std::lock_guard lock(mu_);
  throw_next_ = n;
  throw_error_ = std::move(error);
}

void FakeProducer::fail_deliveries(size_t n, std::string error) {
  std::lock_guard lock(mu_);
  fail_next_ = n;
  fail_error_ = std::move(error);
}

size_t FakeProducer::deliver(size_t n) {
  std::unique_lock lock(mu_);
  size_t done = 0;
  while (done < n && !pending_.empty()) {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    report(std::move(p), lock);
    ++done;
  }
  return done;
}

std::vector<FakeProducer::Sent> FakeProducer::stored() const {
  std::lock_guard lock(mu_);
  return stored_;
}

std::vector<FakeProducer::Sent> FakeProducer::stored(std::string_view topic) const {
  std::lock_guard lock(mu_);
  std::vector<Sent> out;
  for (const auto& s : stored_) {
    if (s.topic == topic) out.push_back(s);
  }
  return out;
}

size_t FakeProducer::attempts() const {
  std::lock_guard lock(mu_);
  return attempts_;
}

// --- LoopDriver ---------------------------------------------------------------------------

using PartitionKey = std::pair<std::string, int32_t>;

struct LoopDriver::State {
  struct Log {
    std::vector<kafka::Record> records;  // index == offset
  };
  std::map<PartitionKey, Log> logs;
  std::map<PartitionKey, int64_t> positions;  // assigned partitions: next offset to read
  std::vector<kafka::TopicPartition> to_assign;
  bool assign_requested = false;
  bool revoke_requested = false;
};

namespace {

// The in-memory RecordSource: rebalances happen inside poll(), as with librdkafka.
class FakeSource final : public kafka::RecordSource {
 public:
  FakeSource(std::shared_ptr<LoopDriver::State> state, Callbacks callbacks)
      : state_(std::move(state)), callbacks_(std::move(callbacks)) {}

  std::vector<kafka::Record> poll(size_t max, std::chrono::milliseconds) override {
    rebalance();
    std::vector<kafka::Record> out;
    for (auto& [key, position] : state_->positions) {
      auto log = state_->logs.find(key);
      if (log == state_->logs.end()) continue;
      while (out.size() < max && position < static_cast<int64_t>(log->second.records.size())) {
        const kafka::Record& r = log->second.records[static_cast<size_t>(position)];
        std::vector<kafka::Header> headers;
        for (std::string_view name : {kafka::kTypeHeader, kafka::kErrorHeader, kafka::kOriginHeader}) {
          if (auto h = r.header(name)) headers.push_back({std::string(name), std::string(*h)});
        }
        out.emplace_back(std::string(r.topic()), r.partition(), r.offset(), std::string(r.key()),
                         std::string(r.value()), std::move(headers), r.timestamp_ms());
        ++position;
      }
    }
    return out;
  }

  // The log's end is known at once (as if every fetch were answered): a partition is caught
  // up once everything pushed to it has been polled.
  std::vector<kafka::PartitionPosition> positions() const override {
    std::vector<kafka::PartitionPosition> out;
    for (const auto& [key, position] : state_->positions) {
      auto log = state_->logs.find(key);
      const int64_t end = log == state_->logs.end() ? 0 : static_cast<int64_t>(log->second.records.size());
      out.push_back({key.first, key.second, position, end});
    }
    return out;
  }

  std::optional<int64_t> query_end(std::string_view topic, int32_t partition) override {
    auto log = state_->logs.find({std::string(topic), partition});
    return log == state_->logs.end() ? 0 : static_cast<int64_t>(log->second.records.size());
  }

  void close(std::chrono::milliseconds) override {
    if (closed_) return;
    closed_ = true;
    if (!state_->positions.empty()) {
      std::vector<kafka::TopicPartition> all;
      for (const auto& [key, pos] : state_->positions) all.push_back({key.first, key.second, pos});
      state_->positions.clear();
      if (callbacks_.revoked) callbacks_.revoked(all);
    }
  }

 private:
  void rebalance() {
    if (state_->revoke_requested) {
      state_->revoke_requested = false;
      std::vector<kafka::TopicPartition> all;
      for (const auto& [key, pos] : state_->positions) all.push_back({key.first, key.second, pos});
      if (callbacks_.revoked) callbacks_.revoked(all);  // may throw: poll rethrows, as librdkafka's
      state_->positions.clear();
    }
    if (state_->assign_requested) {
      state_->assign_requested = false;
      auto parts = std::exchange(state_->to_assign, {});
      std::map<PartitionKey, int64_t> starts;
      for (auto& tp : parts) {  // a throwing start leaves every partition of the rebalance unassigned
        std::optional<int64_t> from = callbacks_.start ? callbacks_.start(tp.topic, tp.partition) : std::nullopt;
        // nullopt or a logical (negative) offset: the beginning, as the librdkafka source does.
        const int64_t at = from && *from >= 0 ? *from : 0;
        tp.offset = at;
        starts[{tp.topic, tp.partition}] = at;
      }
      for (const auto& [key, at] : starts) state_->positions[key] = at;
      if (callbacks_.assigned) callbacks_.assigned(parts);
    }
  }

  std::shared_ptr<LoopDriver::State> state_;
  Callbacks callbacks_;
  bool closed_ = false;
};

}  // namespace

LoopDriver::LoopDriver(kafka::BatchHandler& handler, kafka::Producer& dead_letter_producer,
                       kafka::ConsumerOptions options)
    : state_(std::make_shared<State>()) {
  if (options.group_id.empty()) options.group_id = "test";
  auto state = state_;
  loop_ = std::make_unique<kafka::ConsumerLoop>(
      std::move(options), handler, dead_letter_producer,
      [state](const kafka::ConsumerOptions&, kafka::RecordSource::Callbacks cb) -> std::unique_ptr<kafka::RecordSource> {
        return std::make_unique<FakeSource>(state, std::move(cb));
      });
}

LoopDriver::~LoopDriver() = default;

int64_t LoopDriver::push(std::string_view topic, int32_t partition, std::string_view key, std::string_view value,
                         std::vector<kafka::Header> headers) {
  auto& log = state_->logs[{std::string(topic), partition}];
  const auto offset = static_cast<int64_t>(log.records.size());
  log.records.emplace_back(std::string(topic), partition, offset, std::string(key), std::string(value),
                           std::move(headers));
  return offset;
}

void LoopDriver::assign(std::vector<kafka::TopicPartition> partitions) {
  state_->to_assign = std::move(partitions);
  state_->assign_requested = true;
}

void LoopDriver::revoke() { state_->revoke_requested = true; }

size_t LoopDriver::step() { return loop_->step(); }

size_t LoopDriver::run_until_idle() {
  size_t total = 0;
  for (;;) {
    const size_t n = step();
    total += n;
    if (n == 0) return total;
  }
}

void LoopDriver::finish() { loop_->finish(); }

std::map<std::pair<std::string, int32_t>, int64_t> LoopDriver::positions() const { return state_->positions; }

}  // namespace tierflow::testing
