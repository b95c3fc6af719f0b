#include "src/stream.h"

#include <absl/time/clock.h>

#include <utility>

namespace tierflow::ingest {

namespace {
constexpr uint64_t kMaxIdleArenaBytes = 1 << 20;
}  // namespace

StreamCall::StreamCall(Pipeline& pipeline, std::optional<grpcx::Caller> caller, int64_t max_in_flight)
    : pipeline_(pipeline), caller_(std::move(caller)), max_in_flight_(max_in_flight) {}

StreamCall* StreamCall::start(Pipeline& pipeline, std::optional<grpcx::Caller> caller, int64_t max_in_flight) {
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

StreamCall::Actions StreamCall::decide() {
  Actions a;
  if (finished_) return a;
  if (write_failed_ || cancelled_) acks_.clear();  // nobody to read them
  if (!writing_ && !acks_.empty()) {
    writing_ack_ = std::move(acks_.front());
    acks_.pop_front();
    writing_ = true;
    a.write = true;
    if (!acks_.empty()) a.write_options.set_buffer_hint();  // more follow at once
  }
  if (!checking_ && !batch_.events.empty()) {
    checking_ = true;
    a.batch = std::exchange(batch_, Pipeline::Batch{});
    arena_.reset();  // the next read starts the next batch's arena (a read in flight keeps its own)
  }
  const bool closing = reads_done_ || cancelled_ || write_failed_;
  if (!reading_ && !closing && outstanding_ < max_in_flight_) {
    if (pipeline_.has_room()) {
      reading_ = true;
      a.read = true;
      if (!arena_) {
        google::protobuf::ArenaOptions options;
        options.start_block_size = 64 * 1024;  // a few hundred events before the next block
        arena_ = std::make_shared<google::protobuf::Arena>(options);
      }
      read_arena_ = arena_;
      read_ = google::protobuf::Arena::CreateMessage<v1::PosEvent>(arena_.get());
    } else if (!waiting_for_room_) {
      waiting_for_room_ = true;
      a.wait_for_room = true;
    }
  }
  if (closing && !reading_ && !writing_ && !checking_ && outstanding_ == 0 && acks_.empty() && a.batch.events.empty()) {
    finished_ = true;
    a.finish = true;
  }
  return a;
}

void StreamCall::act(Actions a) {
  if (!a.batch.events.empty()) {
    pipeline_.handle(std::move(a.batch), shared_from_this(), [self = shared_from_this()] { self->on_checked(); });
  }
  if (a.write) StartWrite(&writing_ack_, a.write_options);
  if (a.read) StartRead(read_);
  if (a.wait_for_room) {
    pipeline_.when_room([self = shared_from_this()] {
      Actions next;
      {
        std::lock_guard lock(self->mu_);
        self->waiting_for_room_ = false;
        next = self->decide();
      }
      self->act(std::move(next));
    });
  }
  if (a.finish) Finish(grpc::Status::OK);
}

void StreamCall::OnReadDone(bool ok) {
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
    const auto received = Pipeline::Clock::now();
    auto reason = pipeline_.admit(*read_, caller_, absl::Now());
    std::optional<v1::EventAck> rejection;
    if (reason) rejection = pipeline_.rejected(*read_, *reason);
    std::lock_guard lock(mu_);
    reading_ = false;
    if (rejection) {
      acks_.push_back(std::move(*rejection));
      // The rejected event stays on its arena until the arena goes. A stream of nothing but
      // garbage never hands a batch on, so its arena is dropped here once it has grown
      // (no read is in flight and no admitted event lives on it).
      if (batch_.events.empty() && arena_ && arena_->SpaceAllocated() > kMaxIdleArenaBytes) arena_.reset();
    } else {
      ++outstanding_;
      // Its arena travels with the batch it joins (it may be the one handed on meanwhile).
      if (batch_.arenas.empty() || batch_.arenas.back() != read_arena_) batch_.arenas.push_back(read_arena_);
      batch_.events.push_back(read_);
      batch_.received.push_back(received);
    }
    read_ = nullptr;
    read_arena_.reset();
    a = decide();
  }
  act(std::move(a));
}

void StreamCall::on_checked() {
  Actions a;
  {
    std::lock_guard lock(mu_);
    checking_ = false;
    a = decide();
  }
  act(std::move(a));
}

void StreamCall::ack(v1::EventAck ack) {
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

void StreamCall::OnWriteDone(bool ok) {
  Actions a;
  {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) write_failed_ = true;  // the client is gone; its remaining acks with it
    a = decide();
  }
  act(std::move(a));
}

void StreamCall::OnCancel() {
  Actions a;
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    a = decide();
  }
  act(std::move(a));
}

void StreamCall::OnDone() {
  std::shared_ptr<StreamCall> keep;
  {
    std::lock_guard lock(mu_);
    done_ = true;
    keep = std::move(self_);
  }
  // `keep` releases gRPC's reference last; late acks may still hold the object.
}

}  // namespace tierflow::ingest
