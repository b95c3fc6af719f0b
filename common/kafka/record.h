// A consumed record as handlers see it, and a partition position. No librdkafka here:
// a Record either owns a librdkafka message (from Consumer::poll) or its own copies of the
// fields (tests, fakes), and reads the same either way.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/kafka/producer.h"

struct rd_kafka_message_s;

namespace tierflow::kafka {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;  // for commits: the next offset to read
};

// Where a consumer stands on an assigned partition, as the client knows it without asking
// the broker (RecordSource::positions, BatchHandler::on_positions).
struct PartitionPosition {
  std::string topic;
  int32_t partition = 0;
  // The offset poll() hands out next (after the records it returned); -1 when unknown.
  int64_t next_offset = -1;
  // The partition's end (high watermark) in the broker's last fetch answer; -1 before the
  // first answer. It may be behind the broker's current end (records written since).
  int64_t high_watermark = -1;
  // Every record the broker had at its last answer has been handed out. A partition with
  // unread records in the log is never caught up; one whose end the client has not heard
  // of yet is not either.
  bool caught_up() const { return next_offset >= 0 && high_watermark >= 0 && next_offset >= high_watermark; }
};

// Owns what it reads; the views it returns live as long as it. Move-only.
class Record {
 public:
  // Takes ownership of a consumed librdkafka message.
  explicit Record(rd_kafka_message_s* msg);
  // A record of its own copies (fakes, tests).
  Record(std::string topic, int32_t partition, int64_t offset, std::string key, std::string value,
         std::vector<Header> headers = {}, int64_t timestamp_ms = 0);
  ~Record();
  Record(Record&& other) noexcept;
  Record& operator=(Record&& other) noexcept;
  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;

  std::string_view topic() const;
  int32_t partition() const;
  int64_t offset() const;
  std::string_view key() const;
  std::string_view value() const;
  int64_t timestamp_ms() const;
  // The last header of that name.
  std::optional<std::string_view> header(std::string_view name) const;
  // "pos.events.v1/3@1200": names the record in logs and DLQ headers.
  std::string origin() const;

 private:
  struct Owned;
  rd_kafka_message_s* msg_ = nullptr;
  std::unique_ptr<Owned> owned_;
};

}  // namespace tierflow::kafka
