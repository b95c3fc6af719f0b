#include "src/pipeline.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/kafka/producer.h"
#include "common/kafka/topics.h"
#include "common/time/time.h"
#include "src/validate.h"

namespace tierflow::ingest {

// One admitted event until its ack: answered once, by whoever comes first (the delivery
// report, the first copy's outcome, the bound).
struct Pipeline::Slot {
  std::string id;
  Clock::time_point received;
  std::shared_ptr<AckSink> sink;
  std::atomic<bool> answered{false};
};

Pipeline::Pipeline(Options options, kafka::Producer& producer, Deduper& deduper, Metrics& metrics)
    : options_(options),
      producer_(producer),
      deduper_(deduper),
      metrics_(metrics),
      timeout_reason_("not confirmed by Kafka within " + std::to_string(options.ack_timeout.count()) +
                      " ms; send it again"),
      limits_(options.rate_limit),
      bound_(std::make_unique<DelayQueue>(options.ack_timeout)) {}

Pipeline::~Pipeline() { bound_.reset(); }

std::optional<std::string> Pipeline::admit(v1::PosEvent& event, const std::optional<grpcx::Caller>& caller,
                                           absl::Time now) const {
  auto reason = validate_event(event, now);
  if (!reason && caller && !caller->may_post_for_store(event.store_id())) {
    reason = "store_id '" + event.store_id() + "' is not a store of token '" + caller->name + "'";
  }
  if (reason) return reason;
  // Only ingest says what is backfill: a till cannot mark its sales as history.
  const bool backfill = caller && caller->role == grpcx::Role::kBackfill;
  event.set_backfill(backfill);
  if (backfill) metrics_.backfill.Increment();
  return std::nullopt;
}

v1::EventAck Pipeline::rejected(const v1::PosEvent& event, const std::string& reason) const {
  metrics_.rejected.Increment();
  metrics_.reason("rejected", reason_kind(reason));
  spdlog::debug("rejected event {}: {}", event.event_id(), reason);
  v1::EventAck ack;
  ack.set_event_id(event.event_id());
  ack.set_status(v1::ACK_STATUS_REJECTED);
  ack.set_reason(reason);
  return ack;
}

void Pipeline::throttle(std::vector<v1::PosEvent*>& admitted, const std::optional<grpcx::Caller>& caller,
                        Clock::time_point received, std::vector<v1::EventAck>& answered) {
  if (!limits_.enabled() || admitted.empty()) return;
  if (caller && caller->role == grpcx::Role::kBackfill) return;
  std::vector<bool> allowed;
  limits_.take(caller ? std::string_view(caller->name) : std::string_view(), admitted, allowed);
  if (std::find(allowed.begin(), allowed.end(), false) == allowed.end()) return;
  const double latency = std::chrono::duration<double>(Clock::now() - received).count();
  size_t kept = 0;
  for (size_t i = 0; i < admitted.size(); ++i) {
    if (allowed[i]) {
      admitted[kept++] = admitted[i];
      continue;
    }
    metrics_.ack_latency.Observe(latency);
    v1::EventAck& ack = answered.emplace_back();
    ack.set_event_id(admitted[i]->event_id());
    ack.set_status(v1::ACK_STATUS_RETRY);
    ack.set_reason(fmt::format("rate limited: terminal {} over {} events/s",
                               TerminalLimits::printable(admitted[i]->terminal_id()), limits_.options().events_per_s));
  }
  const auto refused = static_cast<double>(admitted.size() - kept);
  metrics_.retry.Increment(refused);
  metrics_.reasons.Add({{"status", "retry"}, {"reason", "rate_limited"}}).Increment(refused);
  admitted.resize(kept);
}

void Pipeline::answer(Slot& slot, v1::AckStatus status, std::string reason, std::string_view kind) {
  if (slot.answered.exchange(true, std::memory_order_acq_rel)) return;
  switch (status) {
    case v1::ACK_STATUS_ACCEPTED:
      metrics_.accepted.Increment();
      break;
    case v1::ACK_STATUS_DUPLICATE:
      metrics_.duplicate.Increment();
      break;
    default:
      metrics_.retry.Increment();
      metrics_.reason("retry", kind);
      break;
  }
  metrics_.ack_latency.Observe(std::chrono::duration<double>(Clock::now() - slot.received).count());
  v1::EventAck ack;
  ack.set_event_id(slot.id);
  ack.set_status(status);
  ack.set_reason(std::move(reason));
  // Out of the count before the caller hears, so a caller that saw every ack sees 0.
  const int64_t left = in_flight_.fetch_sub(1, std::memory_order_acq_rel) - 1;
  metrics_.in_flight.Decrement();
  slot.sink->ack(std::move(ack));
  if (left < options_.max_in_flight && has_room_waiters_.load(std::memory_order_acquire)) {
    std::vector<std::function<void()>> resume;
    {
      std::lock_guard lock(room_mu_);
      resume.swap(room_waiters_);
      has_room_waiters_ = false;
    }
    for (auto& fn : resume) fn();
  }
}

void Pipeline::when_room(std::function<void()> resume) {
  {
    std::lock_guard lock(room_mu_);
    if (!has_room()) {
      room_waiters_.push_back(std::move(resume));
      has_room_waiters_ = true;
      return;
    }
  }
  resume();  // room came back in the meantime
}

void Pipeline::handle(Batch batch, std::shared_ptr<AckSink> sink, std::function<void()> checked) {
  const auto& events = batch.events;
  const auto& received = batch.received;
  if (events.empty()) {
    if (checked) checked();
    return;
  }
  in_flight_.fetch_add(static_cast<int64_t>(events.size()), std::memory_order_acq_rel);
  metrics_.in_flight.Increment(static_cast<double>(events.size()));
  // The batch's slots in one allocation; each event's shared_ptr aliases the block.
  struct Block {
    explicit Block(size_t n) : slots(n) {}
    std::vector<Slot> slots;
  };
  auto block = std::make_shared<Block>(events.size());
  auto slots = std::make_shared<std::vector<std::shared_ptr<Slot>>>();
  slots->reserve(events.size());
  std::vector<std::string> ids;
  std::vector<Deduper::Waiter> waiters;
  ids.reserve(events.size());
  waiters.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    std::shared_ptr<Slot> slot(block, &block->slots[i]);
    slot->id = events[i]->event_id();
    slot->received = received[i];
    slot->sink = sink;
    ids.push_back(slot->id);
    // A copy of an event in flight: the first copy's outcome decides its ack.
    waiters.emplace_back([this, slot](bool stored) {
      if (stored) {
        answer(*slot, v1::ACK_STATUS_DUPLICATE, "event already stored", "");
      } else {
        answer(*slot, v1::ACK_STATUS_RETRY, "an earlier copy of this event could not be stored; send it again",
               "copy_not_stored");
      }
    });
    slots->push_back(std::move(slot));
  }
  // The bound: whatever is unanswered by then is RETRY (the write may still land; see
  // the header). Queued before the check so it also covers a check that never answers.
  bound_->push([this, slots] {
    for (auto& s : *slots) answer(*s, v1::ACK_STATUS_RETRY, timeout_reason_, "timeout");
  });
  auto held = std::make_shared<Batch>(std::move(batch));
  deduper_.begin_async(std::move(ids), std::move(waiters),
                       [this, held, slots, checked = std::move(checked)](std::vector<Deduper::Seen> seen) {
                         // One clock pair per batch: when each event was received, on the wall clock.
                         const absl::Time wall_now = absl::Now();
                         const Clock::time_point steady_now = Clock::now();
                         for (size_t i = 0; i < seen.size(); ++i) {
                           switch (seen[i]) {
                             case Deduper::Seen::kStored:
                               answer(*(*slots)[i], v1::ACK_STATUS_DUPLICATE, "event already stored", "");
                               break;
                             case Deduper::Seen::kWaiting:
                               break;  // the waiter answers
                             case Deduper::Seen::kNew:
                               produce(*held->events[i], (*slots)[i],
                                       wall_now - absl::FromChrono(steady_now - (*slots)[i]->received));
                               break;
                           }
                         }
                         if (checked) checked();
                       });
}

void Pipeline::produce(v1::PosEvent& event, const std::shared_ptr<Slot>& slot, absl::Time received_wall) {
  static const std::vector<kafka::Header> kHeaders{{std::string(kafka::kTypeHeader), "tierflow.v1.PosEvent"}};
  static const std::vector<kafka::Header> kBackfillHeaders{{std::string(kafka::kTypeHeader), "tierflow.v1.PosEvent"},
                                                           {std::string(kBackfillHeader), "1"}};
  timeutil::to_proto(received_wall, event.mutable_received_time());
  try {
    std::string value;
    event.SerializeToString(&value);
    // Handed over without a copy: the producer keeps the bytes until the report.
    producer_.produce_owned(
        topics::kPosEvents, event.customer_id(), std::move(value), event.backfill() ? kBackfillHeaders : kHeaders,
        [this, slot](const kafka::DeliveryReport& r) {
          if (r.ok) {
            metrics_.store_latency.Observe(std::chrono::duration<double>(Clock::now() - slot->received).count());
            // Copies waiting for this one hear first, then this one (stream order).
            deduper_.finish(slot->id, true);
            answer(*slot, v1::ACK_STATUS_ACCEPTED, "", "");
          } else {
            deduper_.finish(slot->id, false);
            if (!slot->answered.load()) spdlog::warn("event {} not stored: {}", slot->id, r.error);
            answer(*slot, v1::ACK_STATUS_RETRY, "not stored: " + r.error, "kafka_error");
          }
        });
  } catch (const std::exception& e) {
    // produce() did not take the record (KafkaError: queue full, fatal producer state;
    // or out of memory), so no report will come.
    deduper_.finish(slot->id, false);
    spdlog::warn("event {} not stored: {}", slot->id, e.what());
    answer(*slot, v1::ACK_STATUS_RETRY, std::string("not stored: ") + e.what(), "kafka_refused");
  }
}

}  // namespace tierflow::ingest
