#include "common/kafka/kafka.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <future>
#include <utility>

namespace tierflow::kafka {

namespace {

rd_kafka_conf_t* make_conf(const Properties& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw KafkaError("kafka property '" + k + "': " + err);
    }
  }
  return conf;
}

void log_cb(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  if (level <= 3) {
    spdlog::error("kafka {}: {}", fac, buf);
  } else if (level <= 4) {
    spdlog::warn("kafka {}: {}", fac, buf);
  } else {
    spdlog::debug("kafka {}: {}", fac, buf);
  }
}

void dr_msg_cb(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  auto* fn = static_cast<Producer::DeliveryFn*>(msg->_private);
  if (fn == nullptr) return;
  DeliveryReport report;
  report.ok = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR;
  if (!report.ok) report.error = rd_kafka_err2str(msg->err);
  report.partition = msg->partition;
  report.offset = msg->offset;
  try {
    (*fn)(report);
  } catch (const std::exception& e) {
    spdlog::error("delivery callback threw: {}", e.what());
  }
  delete fn;
}

void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<Consumer*>(opaque)->on_rebalance(static_cast<int>(err), parts);
}

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* parts) {
  std::vector<TopicPartition> out;
  for (int i = 0; i < parts->cnt; ++i) {
    out.push_back({parts->elems[i].topic, parts->elems[i].partition, parts->elems[i].offset});
  }
  return out;
}

}  // namespace

Producer::Producer(const std::string& bootstrap, const std::string& client_id, const Properties& extra) {
  Properties props{{"bootstrap.servers", bootstrap},
                   {"client.id", client_id},
                   {"enable.idempotence", "true"},
                   {"acks", "all"},
                   {"linger.ms", "5"},
                   {"compression.type", "lz4"},
                   {"message.timeout.ms", "30000"}};
  for (const auto& [k, v] : extra) props[k] = v;
  rd_kafka_conf_t* conf = make_conf(props);
  rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
  rd_kafka_conf_set_log_cb(conf, log_cb);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw KafkaError(std::string("cannot create producer: ") + err);
  }
  poller_ = std::thread([this] {
    while (!stopping_.load(std::memory_order_relaxed)) rd_kafka_poll(rk_, 50);
  });
}

Producer::~Producer() {
  if (rk_ == nullptr) return;
  if (rd_kafka_flush(rk_, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("producer: {} records still undelivered at shutdown", rd_kafka_outq_len(rk_));
  }
  stopping_ = true;
  poller_.join();
  rd_kafka_poll(rk_, 0);
  rd_kafka_destroy(rk_);
}

void Producer::produce(std::string_view topic, std::string_view key, std::string_view value,
                       const std::vector<Header>& headers, DeliveryFn on_delivery,
                       std::chrono::milliseconds queue_wait) {
  auto* fn = new DeliveryFn(std::move(on_delivery));
  const auto deadline = std::chrono::steady_clock::now() + queue_wait;
  const std::string topic_name(topic);
  for (;;) {
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& h : headers) {
      rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
    }
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(topic_name.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(fn), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // headers now owned by the message
    rd_kafka_headers_destroy(hdrs);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the poller frees room
      continue;
    }
    delete fn;
    throw KafkaError("produce to " + topic_name + ": " + rd_kafka_err2str(err));
  }
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  return rd_kafka_flush(rk_, static_cast<int>(timeout.count())) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

int64_t Producer::in_flight() const { return rd_kafka_outq_len(rk_); }

Record::Record(rd_kafka_message_s* msg) : msg_(msg) {}
Record::~Record() {
  if (msg_ != nullptr) rd_kafka_message_destroy(msg_);
}
Record::Record(Record&& other) noexcept : msg_(other.msg_) { other.msg_ = nullptr; }
std::string_view Record::topic() const { return rd_kafka_topic_name(msg_->rkt); }
int32_t Record::partition() const { return msg_->partition; }
int64_t Record::offset() const { return msg_->offset; }
std::string_view Record::key() const {
  return msg_->key ? std::string_view(static_cast<const char*>(msg_->key), msg_->key_len) : std::string_view();
}
std::string_view Record::value() const {
  return msg_->payload ? std::string_view(static_cast<const char*>(msg_->payload), msg_->len) : std::string_view();
}
int64_t Record::timestamp_ms() const { return rd_kafka_message_timestamp(msg_, nullptr); }
std::optional<std::string_view> Record::header(std::string_view name) const {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(msg_, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, std::string(name).c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  return std::string_view(static_cast<const char*>(value), size);
}

Consumer::Consumer(const std::string& bootstrap, const std::string& group_id, const std::string& client_id,
                   std::chrono::milliseconds session_timeout, const std::vector<std::string>& topics,
                   StartFn start, PartitionsFn on_assigned, PartitionsFn on_revoked, const Properties& extra)
    : start_(std::move(start)), on_assigned_(std::move(on_assigned)), on_revoked_(std::move(on_revoked)) {
  Properties props{{"bootstrap.servers", bootstrap},
                   {"group.id", group_id},
                   {"client.id", client_id},
                   {"session.timeout.ms", std::to_string(session_timeout.count())},
                   {"heartbeat.interval.ms", std::to_string(std::max<int64_t>(100, session_timeout.count() / 5))},
                   {"partition.assignment.strategy", "range"},
                   {"enable.auto.commit", "false"},
                   {"enable.auto.offset.store", "false"},
                   {"auto.offset.reset", "earliest"},
                   {"enable.partition.eof", "false"},
                   {"fetch.wait.max.ms", "50"}};
  for (const auto& [k, v] : extra) props[k] = v;
  rd_kafka_conf_t* conf = make_conf(props);
  rd_kafka_conf_set_log_cb(conf, log_cb);
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
  rd_kafka_conf_set_opaque(conf, this);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw KafkaError(std::string("cannot create consumer: ") + err);
  }
  rd_kafka_poll_set_consumer(rk_);
  rd_kafka_topic_partition_list_t* subs = rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
  for (const auto& t : topics) rd_kafka_topic_partition_list_add(subs, t.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t serr = rd_kafka_subscribe(rk_, subs);
  rd_kafka_topic_partition_list_destroy(subs);
  if (serr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
    throw KafkaError(std::string("subscribe: ") + rd_kafka_err2str(serr));
  }
}

void Consumer::on_rebalance(int err, void* partitions) {
  auto* parts = static_cast<rd_kafka_topic_partition_list_t*>(partitions);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    try {
      for (int i = 0; i < parts->cnt; ++i) {
        auto& tp = parts->elems[i];
        std::optional<int64_t> from;
        if (start_) from = start_(tp.topic, tp.partition);
        tp.offset = from ? *from : RD_KAFKA_OFFSET_STORED;
      }
    } catch (...) {
      callback_error_ = std::current_exception();
      spdlog::error("kafka: {} partitions not assigned: reading where to start failed", parts->cnt);
      return;
    }
    rd_kafka_assign(rk_, parts);
    spdlog::info("kafka: assigned {} partitions", parts->cnt);
    try {
      if (on_assigned_) on_assigned_(to_vector(parts));
    } catch (...) {
      callback_error_ = std::current_exception();
    }
  } else {
    try {
      if (on_revoked_) on_revoked_(to_vector(parts));
    } catch (...) {
      callback_error_ = std::current_exception();
    }
    rd_kafka_assign(rk_, nullptr);
    spdlog::info("kafka: revoked {} partitions", parts->cnt);
  }
}

std::vector<Record> Consumer::poll(size_t max, std::chrono::milliseconds timeout) {
  std::vector<Record> out;
  int wait = static_cast<int>(timeout.count());
  while (out.size() < max) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk_, wait);
    if (callback_error_) {
      if (msg != nullptr) rd_kafka_message_destroy(msg);  // not handed out: read again later
      std::rethrow_exception(std::exchange(callback_error_, nullptr));
    }
    if (msg == nullptr) break;
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        spdlog::warn("kafka consume: {}", rd_kafka_message_errstr(msg));
      }
      rd_kafka_message_destroy(msg);
      continue;
    }
    out.emplace_back(msg);
    wait = 0;  // take what is already fetched, do not wait for more
  }
  return out;
}

void Consumer::commit(const std::vector<TopicPartition>& offsets) {
  if (offsets.empty()) return;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
  for (const auto& tp : offsets) rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset = tp.offset;
  rd_kafka_commit(rk_, list, 1);
  rd_kafka_topic_partition_list_destroy(list);
}

std::vector<TopicPartition> Consumer::assignment() const {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(rk_, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  auto out = to_vector(list);
  rd_kafka_topic_partition_list_destroy(list);
  return out;
}

void Consumer::close() {
  if (closed_ || rk_ == nullptr) return;
  closed_ = true;
  rd_kafka_consumer_close(rk_);
}

Consumer::~Consumer() {
  if (rk_ == nullptr) return;
  close();
  rd_kafka_destroy(rk_);
}

DeliveryReport produce_sync(Producer& producer, std::string_view topic, std::string_view key, std::string_view value,
                            const std::vector<Header>& headers, std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<DeliveryReport>>();
  auto future = promise->get_future();
  producer.produce(topic, key, value, headers, [promise](const DeliveryReport& r) { promise->set_value(r); });
  if (future.wait_for(timeout) != std::future_status::ready) {
    return DeliveryReport{false, "timed out waiting for the broker", -1, -1};
  }
  return future.get();
}

}  // namespace tierflow::kafka
