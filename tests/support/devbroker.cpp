#include "tests/support/devbroker.h"

#include <librdkafka/rdkafka.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace tierflow::test_support {
namespace {

// An assign-only consumer handle (no subscription, no commits), closed and destroyed once.
struct ConsumerDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
using ConsumerHandle = std::unique_ptr<rd_kafka_t, ConsumerDeleter>;

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};

ConsumerHandle make_reader(const std::string& bootstrap) {
  static std::atomic<int> counter{0};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  const std::string group = "test-reader-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  for (const auto& [k, v] : std::initializer_list<std::pair<const char*, std::string>>{
           {"bootstrap.servers", bootstrap},
           {"group.id", group},
           {"enable.auto.commit", "false"},
           {"enable.partition.eof", "false"},
           {"auto.offset.reset", "earliest"},
           {"log_level", "3"}}) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("kafka property ") + k + ": " + err);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("cannot create a kafka reader: ") + err);
  }
  ConsumerHandle handle(rk);
  if (const rd_kafka_resp_err_t e = rd_kafka_poll_set_consumer(rk); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("kafka reader: cannot poll the consumer queue: ") + rd_kafka_err2str(e));
  }
  return handle;
}

int partition_count(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &raw, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(rkt);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("metadata of " + topic + ": " + rd_kafka_err2str(e));
  }
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
  if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("topic " + topic + " does not exist on the broker");
  }
  return md->topics[0].partition_cnt;
}

std::map<int32_t, int64_t> watermarks(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  std::map<int32_t, int64_t> out;
  const int n = partition_count(rk, topic, timeout);
  for (int32_t p = 0; p < n; ++p) {
    int64_t low = 0, high = 0;
    const rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, static_cast<int>(timeout.count()));
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("watermarks of " + topic + "[" + std::to_string(p) + "]: " + rd_kafka_err2str(e));
    }
    out[p] = high;
  }
  return out;
}

// Creates `dir` (and its parents) when missing; returns it.
const std::string& ensure_dir(const std::string& dir) {
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

DevBroker::DevBroker(DevBrokerOptions options)
    : options_(std::move(options)),
      addr_file_(ensure_dir(options_.dir) + "/broker.addr"),
      process_(ProcessOptions{options_.binary,
                              {"--brokers", std::to_string(options_.brokers), "--partitions",
                               std::to_string(options_.partitions), "--addr-file", addr_file_, "--log-level", "warn"},
                              {},
                              options_.dir + "/devbroker.log",
                              options_.dir}) {
  bootstrap_ = wait_for_file_line(addr_file_, process_, std::chrono::seconds(20));
}

DevBroker::~DevBroker() { process_.stop(std::chrono::seconds(5)); }

std::map<int32_t, int64_t> end_offsets(const std::string& bootstrap, const std::string& topic,
                                       std::chrono::milliseconds timeout) {
  ConsumerHandle rk = make_reader(bootstrap);
  return watermarks(rk.get(), topic, timeout);
}

std::vector<TopicRecord> read_topic(const std::string& bootstrap, const std::string& topic,
                                    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ConsumerHandle rk = make_reader(bootstrap);
  const std::map<int32_t, int64_t> ends = watermarks(rk.get(), topic, std::chrono::seconds(10));
  std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter> list(
      rd_kafka_topic_partition_list_new(static_cast<int>(ends.size())));
  std::map<int32_t, int64_t> next;  // partition -> next offset still to read
  for (const auto& [p, end] : ends) {
    if (end <= 0) continue;
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    next[p] = 0;
  }
  std::map<int32_t, std::vector<TopicRecord>> by_partition;
  if (list->cnt > 0) {
    if (const rd_kafka_resp_err_t e = rd_kafka_assign(rk.get(), list.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("assign " + topic + ": " + rd_kafka_err2str(e));
    }
  }
  auto done = [&] {
    for (const auto& [p, n] : next) {
      if (n < ends.at(p)) return false;
    }
    return true;
  };
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string missing;
      for (const auto& [p, n] : next) {
        if (n < ends.at(p)) missing += " [" + std::to_string(p) + "] at " + std::to_string(n) + " of " + std::to_string(ends.at(p));
      }
      throw std::runtime_error("reading " + topic + " did not finish in time:" + missing);
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk.get(), 100);
    if (msg == nullptr) continue;
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> holder(msg, rd_kafka_message_destroy);
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;  // transient; the deadline bounds us
    const int32_t p = msg->partition;
    if (next.count(p) == 0 || msg->offset >= ends.at(p)) continue;
    TopicRecord r;
    r.partition = p;
    r.offset = msg->offset;
    if (msg->key) r.key.assign(static_cast<const char*>(msg->key), msg->key_len);
    if (msg->payload) r.value.assign(static_cast<const char*>(msg->payload), msg->len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
        r.headers[name] = value ? std::string(static_cast<const char*>(value), size) : std::string();
      }
    }
    next[p] = msg->offset + 1;
    by_partition[p].push_back(std::move(r));
  }
  std::vector<TopicRecord> out;
  for (auto& [p, records] : by_partition) {
    for (auto& r : records) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tierflow::test_support
