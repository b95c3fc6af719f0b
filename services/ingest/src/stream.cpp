#include "src/stream.h"

#include <absl/time/clock.h>

#include <string>
#include <type_traits>
#include <utility>

namespace tierflow::ingest {

namespace {
constexpr uint64_t kMaxIdleArenaBytes = 1 << 20;
constexpr size_t kMaxAckBytesPerMessage = 1 << 20;

// The events of one message read, in order (pointers onto the message's arena).
void events_of(v1::PosEvent* read, std::vector<v1::PosEvent*>& out) { out.push_back(read); }
void events_of(v1::PosEventBatch* read, std::vector<v1::PosEvent*>& out) {
  out.reserve(static_cast<size_t>(read->events_size()));
  for (auto& e : *read->mutable_events()) out.push_back(&e);
}

const std::string& over_limit_reason() {
  static const std::string reason =
      "the message has more than " + std::to_string(kMaxEventsPerMessage) + " events; send the rest in another message";
  return reason;
}
}  // namespace

template <class Wire>
StreamCall<Wire>::StreamCall(Pipeline& pipeline, std::optional<grpcx::Caller> caller, int64_t max_in_flight)
    : pipeline_(pipeline), caller_(std::move(caller)), max_in_flight_(max_in_flight) {}

template <class Wire>
StreamCall<Wire>* StreamCall<Wire>::start(Pipeline& pipeline, std::optional<grpcx::Caller> caller,
                                          int64_t max_in_flight) {
  auto call = std::make_shared<StreamCall>(pipeline, std::move(caller), max_in_flight);
  call->self_ = call;
  Actions a;
  {
    std::lock_guard lock(call->mu_);
    a = call->decide();
  }
  call->act(std::move(a));
  return call.get();
}

template <class Wire>
void StreamCall<Wire>::take_acks(Actions& a) {
  if constexpr (std::is_same_v<Wire, SingleEvents>) {
    writing_ = std::move(acks_.front());
    acks_.pop_front();
    if (!acks_.empty()) a.write_options.set_buffer_hint();  // more follow at once
  } else {
    writing_.Clear();
    size_t bytes = 0;
    while (!acks_.empty() && static_cast<size_t>(writing_.acks_size()) < kMaxAcksPerMessage &&
           bytes < kMaxAckBytesPerMessage) {
      bytes += acks_.front().event_id().size() + acks_.front().reason().size() + 8;
      *writing_.add_acks() = std::move(acks_.front());
      acks_.pop_front();
    }
  }
}

template <class Wire>
typename StreamCall<Wire>::Actions StreamCall<Wire>::decide() {
  Actions a;
  if (finished_) return a;
  if (write_failed_ || cancelled_) acks_.clear();  // nobody to read them
  if (!writing_now_ && !acks_.empty()) {
    take_acks(a);
    writing_now_ = true;
    a.write = true;
  }
  if (!checking_ && !batch_.events.empty()) {
    checking_ = true;
    a.batch = std::exchange(batch_, Pipeline::Batch{});
    arena_.reset();  // the next read starts the next batch's arena (a read in flight keeps its own)
  }
  const bool closing = reads_done_ || cancelled_ || write_failed_;
  if (!reading_ && !closing && outstanding_ < max_in_flight_ && acks_.size() >= kMaxQueuedAcks) {
    if (!paused_for_acks_) pipeline_.metrics().read_pauses.Increment();
    paused_for_acks_ = true;  // OnWriteDone decides again once the client takes acks
  } else if (!reading_ && !closing && outstanding_ < max_in_flight_) {
    paused_for_acks_ = false;
    if (pipeline_.has_room()) {
      reading_ = true;
      a.read = true;
      if (!arena_) {
        google::protobuf::ArenaOptions options;
        options.start_block_size = 64 * 1024;  // a few hundred events before the next block
        arena_ = std::make_shared<google::protobuf::Arena>(options);
      }
      read_arena_ = arena_;
      read_ = google::protobuf::Arena::CreateMessage<typename Wire::In>(arena_.get());
    } else if (!waiting_for_room_) {
      waiting_for_room_ = true;
      a.wait_for_room = true;
    }
  }
  if (closing && !reading_ && !writing_now_ && !checking_ && outstanding_ == 0 && acks_.empty() &&
      a.batch.events.empty()) {
    finished_ = true;
    a.finish = true;
  }
  // Every change to acks_ is followed by decide(), under mu_.
  if (acks_.size() != acks_reported_) {  // decide() runs per read and per ack: no atomic update for nothing
    pipeline_.metrics().unsent_acks.Increment(static_cast<double>(acks_.size()) - static_cast<double>(acks_reported_));
    acks_reported_ = acks_.size();
  }
  return a;
}

template <class Wire>
void StreamCall<Wire>::act(Actions a) {
  if (!a.batch.events.empty()) {
    pipeline_.handle(std::move(a.batch), this->shared_from_this(),
                     [self = this->shared_from_this()] { self->on_checked(); });
  }
  if (a.write) this->StartWrite(&writing_, a.write_options);
  if (a.read) this->StartRead(read_);
  if (a.wait_for_room) {
    pipeline_.when_room([self = this->shared_from_this()] {
      Actions next;
      {
        std::lock_guard lock(self->mu_);
        self->waiting_for_room_ = false;
        next = self->decide();
      }
      self->act(std::move(next));
    });
  }
  if (a.finish) this->Finish(grpc::Status::OK);
}

template <class Wire>
void StreamCall<Wire>::OnReadDone(bool ok) {
  Actions a;
  if (!ok) {
    std::lock_guard lock(mu_);
    reading_ = false;
    reads_done_ = true;
    read_ = nullptr;
    read_arena_.reset();
    a = decide();
  } else {
    // read_ is ours until the next read starts (only decide() starts one, under mu_).
    // Admission is pure: done before taking the lock.
    const auto received = Pipeline::Clock::now();
    const absl::Time now = absl::Now();
    std::vector<v1::PosEvent*> events;
    events_of(read_, events);
    std::vector<v1::EventAck> rejections;
    std::vector<v1::PosEvent*> admitted;
    admitted.reserve(events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      auto reason = i < static_cast<size_t>(kMaxEventsPerMessage) ? pipeline_.admit(*events[i], caller_, now)
                                                                  : std::optional<std::string>(over_limit_reason());
      if (reason) {
        rejections.push_back(pipeline_.rejected(*events[i], *reason));
      } else {
        admitted.push_back(events[i]);
      }
    }
    // Answered at once, like the rejections; never held or counted in flight.
    std::vector<v1::EventAck> limited;
    pipeline_.throttle(admitted, caller_, received, limited);
    std::lock_guard lock(mu_);
    reading_ = false;
    for (auto& r : rejections) acks_.push_back(std::move(r));
    for (auto& r : limited) acks_.push_back(std::move(r));
    if (!admitted.empty()) {
      outstanding_ += static_cast<int64_t>(admitted.size());
      // Their arena travels with the batch they join (it may be the one handed on meanwhile).
      if (batch_.arenas.empty() || batch_.arenas.back() != read_arena_) batch_.arenas.push_back(read_arena_);
      batch_.events.insert(batch_.events.end(), admitted.begin(), admitted.end());
      batch_.received.insert(batch_.received.end(), admitted.size(), received);
    } else if (batch_.events.empty() && arena_ && arena_->SpaceAllocated() > kMaxIdleArenaBytes) {
      // Rejected events stay on their arena until the arena goes. A stream of nothing but
      // garbage never hands a batch on, so its arena is dropped here once it has grown
      // (no read is in flight and no admitted event lives on it).
      arena_.reset();
    }
    read_ = nullptr;
    read_arena_.reset();
    a = decide();
  }
  act(std::move(a));
}

template <class Wire>
void StreamCall<Wire>::on_checked() {
  Actions a;
  {
    std::lock_guard lock(mu_);
    checking_ = false;
    a = decide();
  }
  act(std::move(a));
}

template <class Wire>
void StreamCall<Wire>::ack(v1::EventAck ack) {
  Actions a;
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    --outstanding_;
    acks_.push_back(std::move(ack));
    a = decide();
  }
  act(std::move(a));
}

template <class Wire>
void StreamCall<Wire>::OnWriteDone(bool ok) {
  Actions a;
  {
    std::lock_guard lock(mu_);
    writing_now_ = false;
    if (!ok) write_failed_ = true;  // the client is gone; its remaining acks with it
    a = decide();
  }
  act(std::move(a));
}

template <class Wire>
void StreamCall<Wire>::OnCancel() {
  Actions a;
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    a = decide();
  }
  act(std::move(a));
}

template <class Wire>
void StreamCall<Wire>::OnDone() {
  std::shared_ptr<StreamCall> keep;
  {
    std::lock_guard lock(mu_);
    done_ = true;
    keep = std::move(self_);
  }
  // `keep` releases gRPC's reference last; late acks may still hold the object.
}

template class StreamCall<SingleEvents>;
template class StreamCall<EventBatches>;

}  // namespace tierflow::ingest
