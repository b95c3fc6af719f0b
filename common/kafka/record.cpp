#include "common/kafka/record.h"

#include <librdkafka/rdkafka.h>

#include <utility>

namespace tierflow::kafka {

struct Record::Owned {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  int64_t timestamp_ms = 0;
};

Record::Record(rd_kafka_message_s* msg) : msg_(msg) {}

Record::Record(std::string topic, int32_t partition, int64_t offset, std::string key, std::string value,
               std::vector<Header> headers, int64_t timestamp_ms)
    : owned_(std::make_unique<Owned>(Owned{std::move(topic), partition, offset, std::move(key), std::move(value),
                                           std::move(headers), timestamp_ms})) {}

Record::~Record() {
  if (msg_ != nullptr) rd_kafka_message_destroy(msg_);
}

Record::Record(Record&& other) noexcept
    : msg_(std::exchange(other.msg_, nullptr)), owned_(std::move(other.owned_)) {}

Record& Record::operator=(Record&& other) noexcept {
  if (this != &other) {
    if (msg_ != nullptr) rd_kafka_message_destroy(msg_);
    msg_ = std::exchange(other.msg_, nullptr);
    owned_ = std::move(other.owned_);
  }
  return *this;
}

std::string_view Record::topic() const {
  // Both arms as views: a ternary of const char* and std::string would yield a temporary.
  return msg_ ? std::string_view(rd_kafka_topic_name(msg_->rkt)) : std::string_view(owned_->topic);
}
int32_t Record::partition() const { return msg_ ? msg_->partition : owned_->partition; }
int64_t Record::offset() const { return msg_ ? msg_->offset : owned_->offset; }

std::string_view Record::key() const {
  if (!msg_) return owned_->key;
  return msg_->key ? std::string_view(static_cast<const char*>(msg_->key), msg_->key_len) : std::string_view();
}

std::string_view Record::value() const {
  if (!msg_) return owned_->value;
  return msg_->payload ? std::string_view(static_cast<const char*>(msg_->payload), msg_->len) : std::string_view();
}

int64_t Record::timestamp_ms() const { return msg_ ? rd_kafka_message_timestamp(msg_, nullptr) : owned_->timestamp_ms; }

std::optional<std::string_view> Record::header(std::string_view name) const {
  if (!msg_) {
    for (auto it = owned_->headers.rbegin(); it != owned_->headers.rend(); ++it) {
      if (it->name == name) return std::string_view(it->value);
    }
    return std::nullopt;
  }
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(msg_, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, std::string(name).c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  return std::string_view(static_cast<const char*>(value), size);
}

std::string Record::origin() const {
  return std::string(topic()) + "/" + std::to_string(partition()) + "@" + std::to_string(offset());
}

}  // namespace tierflow::kafka
