#include "common/kafka/producer.h"

#include <future>
#include <memory>

namespace tierflow::kafka {

void Producer::produce_to(std::string_view topic, int32_t, std::string_view, std::string_view,
                          const std::vector<Header>&, DeliveryFn) {
  throw KafkaError("produce to " + std::string(topic) + ": this producer cannot choose partitions");
}

DeliveryReport produce_sync(Producer& producer, std::string_view topic, std::string_view key, std::string_view value,
                            const std::vector<Header>& headers, std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<DeliveryReport>>();
  auto future = promise->get_future();
  try {
    producer.produce(topic, key, value, headers, [promise](const DeliveryReport& r) { promise->set_value(r); });
  } catch (const KafkaError& e) {
    return DeliveryReport{false, e.what(), -1, -1};
  }
  if (future.wait_for(timeout) != std::future_status::ready) {
    return DeliveryReport{false, "timed out waiting for the broker", -1, -1};
  }
  return future.get();
}

}  // namespace tierflow::kafka
