#include "common/kafka/consumer_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"

namespace tierflow::kafka {

// --- DeadLetters --------------------------------------------------------------------------

struct DeadLetters::State {
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = 0;             // produced, not yet reported
  std::string first_error;        // of the oldest failure since the last confirm()
  uint64_t confirmed_total = 0;
};

DeadLetters::DeadLetters(Producer& producer, std::chrono::milliseconds timeout)
    : producer_(producer), timeout_(timeout), state_(std::make_shared<State>()) {}

DeadLetters::~DeadLetters() = default;

void DeadLetters::add(const Record& record, std::string_view reason) {
  const std::string origin = record.origin();
  // Once per poison record, with where it was and why; never its value.
  spdlog::warn("dead letter {} (key {}): {}", origin, record.key(), reason);
  std::vector<Header> headers;
  headers.reserve(3);
  if (auto type = record.header(kTypeHeader)) headers.push_back({std::string(kTypeHeader), std::string(*type)});
  headers.push_back({std::string(kErrorHeader), std::string(reason)});
  headers.push_back({std::string(kOriginHeader), origin});
  auto state = state_;
  {
    std::lock_guard lock(state->mu);
    ++state->pending;
  }
  try {
    producer_.produce(topics::dlq(record.topic()), record.key(), record.value(), headers,
                      [state, origin](const DeliveryReport& r) {
                        std::lock_guard lock(state->mu);
                        if (r.ok) {
                          ++state->confirmed_total;
                        } else if (state->first_error.empty()) {
                          state->first_error = "dead letter " + origin + " not stored: " + r.error;
                        }
                        --state->pending;
                        state->cv.notify_all();
                      });
  } catch (const KafkaError& e) {
    std::lock_guard lock(state->mu);
    --state->pending;
    if (state->first_error.empty()) state->first_error = "dead letter " + origin + " not queued: " + e.what();
  }
}

void DeadLetters::confirm() {
  std::unique_lock lock(state_->mu);
  const bool done = state_->cv.wait_for(lock, timeout_, [&] { return state_->pending == 0; });
  std::string error = std::move(state_->first_error);
  state_->first_error.clear();
  if (!done) {
    error = std::to_string(state_->pending) + " dead letter(s) not confirmed by the broker within " +
            std::to_string(timeout_.count()) + " ms" + (error.empty() ? "" : "; " + error);
    // Late reports go to the old state; whatever comes next starts clean.
    const uint64_t total = state_->confirmed_total;
    lock.unlock();
    state_ = std::make_shared<State>();
    state_->confirmed_total = total;
  }
  if (!error.empty()) throw KafkaError(error);
}

size_t DeadLetters::pending() const {
  std::lock_guard lock(state_->mu);
  return state_->pending;
}

uint64_t DeadLetters::confirmed_total() const {
  std::lock_guard lock(state_->mu);
  return state_->confirmed_total;
}

// --- ConsumerLoop -------------------------------------------------------------------------

ConsumerLoop::ConsumerLoop(ConsumerOptions options, BatchHandler& handler, Producer& dead_letter_producer)
    : ConsumerLoop(std::move(options), handler, dead_letter_producer,
                   [](const ConsumerOptions& o, RecordSource::Callbacks cb) -> std::unique_ptr<RecordSource> {
                     return std::make_unique<Consumer>(o, std::move(cb));
                   }) {}

ConsumerLoop::ConsumerLoop(ConsumerOptions options, BatchHandler& handler, Producer& dead_letter_producer,
                           SourceFactory source)
    : options_(std::move(options)),
      handler_(handler),
      dead_letters_(dead_letter_producer, options_.dead_letter_timeout),
      factory_(std::move(source)) {}

ConsumerLoop::~ConsumerLoop() = default;

size_t ConsumerLoop::step() {
  if (!source_) {
    RecordSource::Callbacks callbacks;
    callbacks.start = [this](std::string_view topic, int32_t partition) {
      return handler_.start_offset(topic, partition);
    };
    callbacks.assigned = [this](const std::vector<TopicPartition>& p) { handler_.on_assigned(p); };
    callbacks.revoked = [this](const std::vector<TopicPartition>& p) { handler_.on_revoked(p); };
    source_ = factory_(options_, std::move(callbacks));
  }
  std::vector<Record> records = source_->poll(options_.max_batch, options_.poll_timeout);
  handler_.on_positions(source_->positions(), *source_);
  if (!records.empty()) {
    handler_.handle(records, dead_letters_);
    // The handler confirms before its own commit; this catches one that did not.
    dead_letters_.confirm();
    // Nothing is committed to the group: the handler's store holds the offsets that count.
    // A group offset committed here could run ahead of a store that commits later
    // (the ledger's pipelined writer) and make a restart skip what was never stored.
  }
  handler_.tick();
  return records.size();
}

void ConsumerLoop::finish() {
  if (finished_) return;
  finished_ = true;
  handler_.drain();
  dead_letters_.confirm();
  if (source_) source_->close(options_.close_timeout);
}

void ConsumerLoop::run(std::stop_token stop) {
  try {
    while (!stop.stop_requested()) step();
  } catch (...) {
    // The handler's state cannot be trusted: no drain, only leave the group (bounded), so
    // the partitions move on at once; the restart resumes from the store.
    finished_ = true;
    if (source_) {
      try {
        source_->close(options_.close_timeout);
      } catch (const std::exception& e) {
        spdlog::warn("kafka: leaving the group after a failure: {}", e.what());
      }
    }
    throw;
  }
  finish();
}

}  // namespace tierflow::kafka
