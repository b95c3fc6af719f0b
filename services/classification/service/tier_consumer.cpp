#include "service/tier_consumer.h"

#include <string>

#include "common/config/config.h"
#include "common/kafka/topics.h"
#include "service/tier_keeper.h"

namespace tierflow::classification {

namespace {
constexpr int64_t kOffsetBeginning = -2;  // librdkafka's logical offset (RD_KAFKA_OFFSET_BEGINNING)
}

kafka::ConsumerOptions TierConsumer::options(const Config& cfg) {
  kafka::ConsumerOptions o;
  o.bootstrap = config::resolve_bootstrap(cfg.kafka);
  o.group_id = cfg.group_id;
  o.client_id = cfg.kafka.client_id;
  o.topics = {std::string(topics::kCustomers), std::string(topics::kAccounts)};
  o.session_timeout = cfg.kafka.session_timeout;
  o.max_batch = 5000;
  o.poll_timeout = std::chrono::milliseconds(100);
  o.properties = cfg.kafka.properties;
  return o;
}

std::optional<int64_t> TierConsumer::start_offset(std::string_view topic, int32_t partition) {
  // The offset applied to memory (which the store has or the next commit will have).
  return keeper_.applied_offset(topic, partition).value_or(kOffsetBeginning);
}

void TierConsumer::on_revoked(const std::vector<kafka::TopicPartition>& partitions) {
  if (dirty_) {
    keeper_.check_store();
    keeper_.maintain(Clock::now(), true);
    dirty_ = false;
    last_eval_ = Clock::now();
  }
  keeper_.release_partitions(partitions);
}

void TierConsumer::handle(std::span<const kafka::Record> batch, kafka::DeadLetters& dead_letters) {
  keeper_.apply(batch, dead_letters);
  if (!dirty_) first_pending_ = Clock::now();
  dirty_ = true;
  handled_ = true;
}

void TierConsumer::tick() {
  keeper_.check_store();
  const bool settled = !handled_;  // this poll returned nothing
  handled_ = false;
  const auto now = Clock::now();
  // Another instance's summary may complete an evaluation point (evaluation_points: watermarks).
  const bool points_due = keeper_.poll_points();
  const bool input_due = (dirty_ && (settled || now - first_pending_ >= cfg_.evaluate_delay)) || points_due;
  const bool schedule_due = now - last_eval_ >= cfg_.reevaluate_interval;
  if (!input_due && !schedule_due && !keeper_.publisher_attention_due(now)) return;
  keeper_.maintain(now, input_due || schedule_due, schedule_due);
  if (input_due || schedule_due) {
    dirty_ = false;
    last_eval_ = Clock::now();
  }
}

void TierConsumer::drain() {
  keeper_.drain(dirty_);
  dirty_ = false;  // leaving the group revokes next: nothing is left to evaluate then
}

}  // namespace tierflow::classification
