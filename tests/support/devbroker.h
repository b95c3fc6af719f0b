// The local Kafka for integration and e2e tests: tools/devbroker (librdkafka's mock
// cluster, a real Kafka-protocol broker) as a child process with every suite topic and its
// .dlq twin created, plus a reader that takes a whole topic as it is now.
//
// Lifecycle: the constructor starts the broker and returns once its address file exists
// (the topics exist then); the destructor stops it (SIGTERM, SIGKILL after 5 s). The mock
// keeps everything in memory: at most 100,000 records or 5 MiB per partition, older ones
// are dropped, and all is gone when it stops (DESIGN.md, Storage).
// Threading: a DevBroker is thread-compatible; read_topic and end_offsets are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace tierflow::test_support {

struct DevBrokerOptions {
  std::string binary;       // $<TARGET_FILE:devbroker>
  std::string dir;          // where the address file and the log go; created if missing
  int partitions = 12;      // every topic gets this many
  int brokers = 3;
};

class DevBroker {
 public:
  // Throws std::runtime_error (with the broker's log) when it does not come up in 20 s.
  explicit DevBroker(DevBrokerOptions options);
  ~DevBroker();
  DevBroker(const DevBroker&) = delete;
  DevBroker& operator=(const DevBroker&) = delete;

  // host:port list for bootstrap.servers.
  const std::string& bootstrap() const { return bootstrap_; }
  // The file the services read with kafka.bootstrap_file (TIERFLOW_KAFKA_BOOTSTRAP_FILE).
  const std::string& addr_file() const { return addr_file_; }
  int partitions() const { return options_.partitions; }
  ChildProcess& process() { return process_; }

 private:
  DevBrokerOptions options_;
  std::string addr_file_;
  ChildProcess process_;
  std::string bootstrap_;
};

// One record read back from a topic.
struct TopicRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;  // the last value of each header name
};

// The high watermark (next offset to be written) of every partition of `topic`.
// Throws std::runtime_error when the broker does not answer within `timeout`.
std::map<int32_t, int64_t> end_offsets(const std::string& bootstrap, const std::string& topic,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Every record of `topic` from the oldest kept offset up to the end offsets taken when the
// call starts (records written meanwhile may or may not be included), partition by
// partition in offset order. No consumer group is used (nothing is committed). Throws
// std::runtime_error when the records are not all read within `timeout`.
std::vector<TopicRecord> read_topic(const std::string& bootstrap, const std::string& topic,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace tierflow::test_support
