#include "src/stream.h"

#include <absl/time/clock.h>

namespace tierflow::ingest {

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
  if (!checking_ && !batch_.empty()) {
    checking_ = true;
    a.batch.swap(batch_);
    a.received.swap(received_);
  }
  const bool closing = reads_done_ || cancelled_ || write_failed_;
  if (!reading_ && !closing && outstanding_ < max_in_flight_) {
    if (pipeline_.has_room()) {
      reading_ = true;
      a.read = true;
    } else if (!waiting_for_room_) {
      waiting_for_room_ = true;
      a.wait_for_room = true;
    }
  }
  if (closing && !reading_ && !writing_ && !checking_ && outstanding_ == 0 && acks_.empty() && a.batch.empty()) {
    finished_ = true;
    a.finish = true;
  }
  return a;
}

void StreamCall::act(Actions a) {
  if (!a.batch.empty()) {
    pipeline_.handle(std::move(a.batch), std::move(a.received), shared_from_this(),
                     [self = shared_from_this()] { self->on_checked(); });
  }
  if (a.write) StartWrite(&writing_ack_, a.write_options);
  if (a.read) StartRead(&read_);
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
    a = decide();
  } else {
    const auto received = Pipeline::Clock::now();
    auto reason = pipeline_.admit(read_, caller_, absl::Now());
    std::optional<v1::EventAck> rejection;
    if (reason) rejection = pipeline_.rejected(read_, *reason);
    std::lock_guard lock(mu_);
    reading_ = false;
    if (rejection) {
      acks_.push_back(std::move(*rejection));
    } else {
      ++outstanding_;
      batch_.push_back(std::move(read_));
      received_.push_back(received);
    }
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
