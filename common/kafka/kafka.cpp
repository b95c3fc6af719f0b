#include "common/kafka/kafka.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

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

}  // namespace

// What a queued record carries until its report: the callback and, for produce_owned,
// the value's bytes librdkafka points at (it was given them without a copy).
struct RdkafkaProducer::Pending {
  Producer::DeliveryFn fn;
  std::string value;
};

namespace {

void dr_msg_cb(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  std::unique_ptr<RdkafkaProducer::Pending> pending(static_cast<RdkafkaProducer::Pending*>(msg->_private));
  if (pending == nullptr) return;
  Producer::DeliveryFn* fn = &pending->fn;
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
}

void rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<Consumer*>(opaque)->on_rebalance(static_cast<int>(err), parts);
}

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* parts) {
  std::vector<TopicPartition> out;
  out.reserve(static_cast<size_t>(parts->cnt));
  for (int i = 0; i < parts->cnt; ++i) {
    out.push_back({parts->elems[i].topic, parts->elems[i].partition, parts->elems[i].offset});
  }
  return out;
}

}  // namespace

// --- Producer ---------------------------------------------------------------------------

namespace {
Properties producer_properties(const std::string& bootstrap, const std::string& client_id, const Properties& extra) {
  Properties props{{"bootstrap.servers", bootstrap},
                   {"client.id", client_id},
                   {"enable.idempotence", "true"},
                   {"acks", "all"},
                   {"linger.ms", "5"},
                   {"compression.type", "lz4"},
                   {"message.timeout.ms", "30000"}};
  for (const auto& [k, v] : extra) props[k] = v;
  return props;
}

void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  static_cast<RdkafkaProducer*>(opaque)->on_error(rk, err, reason);
}
}  // namespace

RdkafkaProducer::RdkafkaProducer(const std::string& bootstrap, const std::string& client_id, const Properties& extra,
                                 std::chrono::milliseconds queue_wait)
    : props_(producer_properties(bootstrap, client_id, extra)), queue_wait_(queue_wait), rk_(make_handle()) {
  poller_ = std::thread([this] {
    while (!stopping_.load(std::memory_order_relaxed)) {
      rd_kafka_poll(handle().get(), 50);
      if (fatal_.load()) rebuild();
    }
  });
}

std::shared_ptr<rd_kafka_s> RdkafkaProducer::make_handle() {
  rd_kafka_conf_t* conf = make_conf(props_);
  rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
  rd_kafka_conf_set_log_cb(conf, log_cb);
  rd_kafka_conf_set_error_cb(conf, error_cb);
  rd_kafka_conf_set_opaque(conf, this);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw KafkaError(std::string("cannot create producer: ") + err);
  }
  // The last holder destroys it; by then the poller has drained it (rebuild, destructor).
  return std::shared_ptr<rd_kafka_s>(rk, [](rd_kafka_t* h) { rd_kafka_destroy(h); });
}

std::shared_ptr<rd_kafka_s> RdkafkaProducer::handle() const {
  std::lock_guard lock(mu_);
  return rk_;
}

void RdkafkaProducer::on_error(rd_kafka_s* rk, int err, const char* reason) {
  if (err != RD_KAFKA_RESP_ERR__FATAL) {
    // Transient (broker down, timeouts): librdkafka retries; records that cannot be
    // delivered in message.timeout.ms fail through their delivery reports.
    spdlog::warn("kafka producer: {}", reason);
    return;
  }
  char fatal[512];
  const rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
  spdlog::error("kafka producer: fatal error {} ({}); rebuilding the producer", rd_kafka_err2name(code), fatal);
  if (rk == handle().get()) fatal_ = true;
}

bool RdkafkaProducer::prefetch_metadata(const std::vector<std::string_view>& topics,
                                        std::chrono::milliseconds timeout) {
  const auto rk = handle();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto topic : topics) {
    // A topic handle makes the answer land in the cache the producer reads.
    std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> t(
        rd_kafka_topic_new(rk.get(), std::string(topic).c_str(), nullptr), rd_kafka_topic_destroy);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const rd_kafka_metadata_t* md = nullptr;
    const auto rc = rd_kafka_metadata(rk.get(), 0, t.get(), &md, static_cast<int>(std::max<int64_t>(1, left.count())));
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("kafka: metadata of {} not fetched at start: {} (fetched on first use)", topic, rd_kafka_err2str(rc));
      return false;
    }
    rd_kafka_metadata_destroy(md);
  }
  return true;
}

void RdkafkaProducer::test_fatal_error(const std::string& reason) {
  rd_kafka_test_fatal_error(handle().get(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason.c_str());
}

void RdkafkaProducer::rebuild() {
  std::shared_ptr<rd_kafka_s> fresh;
  try {
    fresh = make_handle();
  } catch (const std::exception& e) {
    spdlog::error("kafka producer: rebuilding after a fatal error failed (retrying): {}", e.what());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return;
  }
  std::shared_ptr<rd_kafka_s> old;
  {
    std::lock_guard lock(mu_);
    old = std::exchange(rk_, std::move(fresh));
    fatal_ = false;
  }
  rebuilds_.fetch_add(1);
  // Everything the old handle still holds fails now (purge reports), so every callback
  // runs exactly once; a handle that does not drain in 5 s is destroyed as it is.
  rd_kafka_purge(old.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (rd_kafka_outq_len(old.get()) > 0 && std::chrono::steady_clock::now() < give_up) {
    rd_kafka_poll(old.get(), 10);
    rd_kafka_poll(handle().get(), 0);  // keep the new handle's reports flowing
  }
  rd_kafka_poll(old.get(), 0);
  spdlog::info("kafka producer: rebuilt after a fatal error ({} records of the old handle unreported)",
               rd_kafka_outq_len(old.get()));
}

RdkafkaProducer::~RdkafkaProducer() {
  auto rk = handle();
  if (rd_kafka_flush(rk.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("producer: {} records still undelivered at shutdown", rd_kafka_outq_len(rk.get()));
  }
  stopping_ = true;
  poller_.join();
  rd_kafka_poll(handle().get(), 0);
}

void RdkafkaProducer::produce(std::string_view topic, std::string_view key, std::string_view value,
                              const std::vector<Header>& headers, DeliveryFn on_delivery) {
  enqueue(topic, RD_KAFKA_PARTITION_UA, key, std::make_unique<Pending>(Pending{std::move(on_delivery), {}}), value,
          RD_KAFKA_MSG_F_COPY, headers);
}

void RdkafkaProducer::produce_to(std::string_view topic, int32_t partition, std::string_view key,
                                 std::string_view value, const std::vector<Header>& headers, DeliveryFn on_delivery) {
  if (partition < 0) throw KafkaError("produce to " + std::string(topic) + ": negative partition");
  enqueue(topic, partition, key, std::make_unique<Pending>(Pending{std::move(on_delivery), {}}), value,
          RD_KAFKA_MSG_F_COPY, headers);
}

void RdkafkaProducer::produce_owned(std::string_view topic, std::string_view key, std::string value,
                                    const std::vector<Header>& headers, DeliveryFn on_delivery) {
  auto pending = std::make_unique<Pending>(Pending{std::move(on_delivery), std::move(value)});
  const std::string_view bytes = pending->value;  // stable: the string lives in *pending
  enqueue(topic, RD_KAFKA_PARTITION_UA, key, std::move(pending), bytes, 0, headers);
}

void RdkafkaProducer::enqueue(std::string_view topic, int32_t partition, std::string_view key,
                              std::unique_ptr<Pending> pending, std::string_view value, int msgflags,
                              const std::vector<Header>& headers) {
  const std::shared_ptr<rd_kafka_s> held = handle();  // a rebuild cannot destroy it under us
  rd_kafka_t* rk = held.get();
  const auto deadline = std::chrono::steady_clock::now() + queue_wait_;
  const std::string topic_name(topic);
  for (;;) {
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& h : headers) {
      const rd_kafka_resp_err_t herr = rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()),
                                                           h.value.data(), static_cast<ssize_t>(h.value.size()));
      if (herr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(hdrs);
        throw KafkaError("produce to " + topic_name + ": header " + h.name + ": " + rd_kafka_err2str(herr));
      }
    }
    // Without RD_KAFKA_MSG_F_COPY librdkafka points at `value` until the report, which
    // frees `pending` (and the bytes with it); with it, it copies now.
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic_name.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_MSGFLAGS(msgflags),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      pending.release();  // the delivery callback owns it now; headers are owned by the message
      return;
    }
    rd_kafka_headers_destroy(hdrs);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the poller frees room
      continue;
    }
    std::string detail = rd_kafka_err2str(err);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal[512];
      rd_kafka_fatal_error(rk, fatal, sizeof fatal);
      detail += std::string(" (") + fatal + ")";
      if (held == handle()) fatal_ = true;  // the poller rebuilds
    }
    throw KafkaError("produce to " + topic_name + ": " + detail);
  }
}

bool RdkafkaProducer::flush(std::chrono::milliseconds timeout) {
  return rd_kafka_flush(handle().get(), static_cast<int>(timeout.count())) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

int64_t RdkafkaProducer::in_flight() const { return rd_kafka_outq_len(handle().get()); }

// --- Consumer ---------------------------------------------------------------------------

Consumer::Consumer(const ConsumerOptions& options, Callbacks callbacks) : callbacks_(std::move(callbacks)) {
  const auto session_ms = options.session_timeout.count();
  Properties props{{"bootstrap.servers", options.bootstrap},
                   {"group.id", options.group_id},
                   {"client.id", options.client_id},
                   {"session.timeout.ms", std::to_string(session_ms)},
                   {"heartbeat.interval.ms", std::to_string(std::max<int64_t>(100, session_ms / 5))},
                   {"partition.assignment.strategy", "range"},
                   {"enable.auto.commit", "false"},
                   {"enable.auto.offset.store", "false"},
                   {"auto.offset.reset", "earliest"},
                   {"enable.partition.eof", "false"},
                   {"fetch.wait.max.ms", "50"}};
  for (const auto& [k, v] : options.properties) props[k] = v;
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
  const rd_kafka_resp_err_t perr = rd_kafka_poll_set_consumer(rk_);
  rd_kafka_topic_partition_list_t* subs = rd_kafka_topic_partition_list_new(static_cast<int>(options.topics.size()));
  for (const auto& t : options.topics) rd_kafka_topic_partition_list_add(subs, t.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t serr = perr != RD_KAFKA_RESP_ERR_NO_ERROR ? perr : rd_kafka_subscribe(rk_, subs);
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
        if (callbacks_.start) from = callbacks_.start(tp.topic, tp.partition);
        // No stored offset: the beginning, never a group offset (the store is the truth).
        tp.offset = from ? *from : RD_KAFKA_OFFSET_BEGINNING;
        starts_[{tp.topic, tp.partition}] = tp.offset;
      }
    } catch (...) {
      callback_error_ = std::current_exception();
      spdlog::error("kafka: {} partitions not assigned: reading where to start failed", parts->cnt);
      return;
    }
    const rd_kafka_resp_err_t aerr = rd_kafka_assign(rk_, parts);
    if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      callback_error_ = std::make_exception_ptr(KafkaError(std::string("assign: ") + rd_kafka_err2str(aerr)));
      return;
    }
    spdlog::info("kafka: assigned {} partitions", parts->cnt);
    try {
      if (callbacks_.assigned) callbacks_.assigned(to_vector(parts));
    } catch (...) {
      callback_error_ = std::current_exception();
    }
  } else {
    for (int i = 0; i < parts->cnt; ++i) starts_.erase({parts->elems[i].topic, parts->elems[i].partition});
    try {
      if (callbacks_.revoked) callbacks_.revoked(to_vector(parts));
    } catch (...) {
      callback_error_ = std::current_exception();
    }
    const rd_kafka_resp_err_t uerr = rd_kafka_assign(rk_, nullptr);
    if (uerr != RD_KAFKA_RESP_ERR_NO_ERROR && !callback_error_) {
      callback_error_ = std::make_exception_ptr(KafkaError(std::string("unassign: ") + rd_kafka_err2str(uerr)));
    }
    // Lost (the session timed out, e.g. the coordinator was unreachable): the group
    // reassigns them once this member rejoined, which needs the next poll().
    if (rd_kafka_assignment_lost(rk_)) {
      spdlog::warn("kafka: lost {} partitions (group session expired); rejoining", parts->cnt);
    } else {
      spdlog::info("kafka: revoked {} partitions", parts->cnt);
    }
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
      const rd_kafka_resp_err_t code = msg->err;
      std::string text = rd_kafka_message_errstr(msg);
      rd_kafka_message_destroy(msg);
      if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(rk_, fatal, sizeof fatal);
        throw KafkaError(std::string("consumer: fatal error: ") + fatal);
      }
      if (code != RD_KAFKA_RESP_ERR__PARTITION_EOF) spdlog::warn("kafka consume: {}", text);
      continue;
    }
    out.emplace_back(msg);
    wait = 0;  // take what is already fetched, do not wait for more
  }
  return out;
}

std::vector<TopicPartition> Consumer::assignment() const {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(rk_, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  auto out = to_vector(list);
  rd_kafka_topic_partition_list_destroy(list);
  return out;
}

std::vector<PartitionPosition> Consumer::positions() const {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(rk_, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  std::vector<PartitionPosition> out;
  if (rd_kafka_position(rk_, list) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    out.reserve(static_cast<size_t>(list->cnt));
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      PartitionPosition p{tp.topic, tp.partition, tp.offset >= 0 ? tp.offset : -1, -1};
      int64_t low = RD_KAFKA_OFFSET_INVALID, high = RD_KAFKA_OFFSET_INVALID;
      rd_kafka_get_watermark_offsets(rk_, tp.topic, tp.partition, &low, &high);
      if (high >= 0) p.high_watermark = high;
      if (p.next_offset < 0) {  // nothing handed out yet: where the assignment started
        auto start = starts_.find({tp.topic, tp.partition});
        if (start != starts_.end() && start->second >= 0) {
          p.next_offset = start->second;
        } else if (start != starts_.end() && start->second == RD_KAFKA_OFFSET_BEGINNING) {
          p.next_offset = low >= 0 ? low : (high == 0 ? 0 : -1);
        }
      }
      out.push_back(std::move(p));
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  return out;
}

std::optional<int64_t> Consumer::query_end(std::string_view topic, int32_t partition) {
  int64_t low = RD_KAFKA_OFFSET_INVALID, high = RD_KAFKA_OFFSET_INVALID;
  const std::string name(topic);
  const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk_, name.c_str(), partition, &low, &high, 5000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || high < 0) {
    spdlog::warn("kafka: end of {}/{} unknown: {}", name, partition, rd_kafka_err2str(err));
    return std::nullopt;
  }
  return high;
}

void Consumer::close(std::chrono::milliseconds timeout) {
  if (closed_ || rk_ == nullptr) return;
  closed_ = true;
  // Asynchronous close on a queue of our own, served until closed or the deadline: a
  // broker that does not answer cannot hold shutdown beyond `timeout`.
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_);
  if (rd_kafka_error_t* error = rd_kafka_consumer_close_queue(rk_, queue)) {
    spdlog::warn("kafka: leaving the group: {}", rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    rd_kafka_queue_destroy(queue);
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Served with the event API, not rd_kafka_queue_poll_callback: the close forwards the
  // consumer queue here, so records fetched before it arrive too, and a callback-mode serve
  // aborts on them (rdkafka_queue.c "res != RD_KAFKA_OP_RES_PASS"), as the Go client does.
  // The event API returns the revoke as an event instead of calling the rebalance callback,
  // so it is passed to on_rebalance here; any other event (a fetched record, an error) is
  // dropped: nothing is handled or committed after close() began.
  while (!rd_kafka_consumer_closed(rk_) && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 50);
    if (event == nullptr) continue;
    if (rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE) {
      on_rebalance(static_cast<int>(rd_kafka_event_error(event)), rd_kafka_event_topic_partition_list(event));
    }
    rd_kafka_event_destroy(event);
  }
  if (!rd_kafka_consumer_closed(rk_)) {
    spdlog::warn("kafka: leaving the group did not finish within {} ms", timeout.count());
  }
  rd_kafka_queue_destroy(queue);
  if (callback_error_) {
    spdlog::error("kafka: a revoke callback failed while leaving the group");
    callback_error_ = nullptr;
  }
}

Consumer::~Consumer() {
  if (rk_ == nullptr) return;
  close(std::chrono::seconds(10));
  // After a bounded close that did not finish, do not let destroy close (and wait) again.
  rd_kafka_destroy_flags(rk_, rd_kafka_consumer_closed(rk_) ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

int partition_count(const std::string& bootstrap, const std::string& topic, const Properties& extra,
                    std::chrono::milliseconds timeout) {
  Properties props{{"bootstrap.servers", bootstrap}};
  for (const auto& [k, v] : extra) props[k] = v;
  rd_kafka_conf_t* conf = make_conf(props);
  rd_kafka_conf_set_log_cb(conf, log_cb);
  char err[512];
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err),
                                                         rd_kafka_destroy);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw KafkaError(std::string("kafka: ") + err);
  }
  std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> t(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr),
                                                                   rd_kafka_topic_destroy);
  const rd_kafka_metadata_t* md = nullptr;
  const auto rc = rd_kafka_metadata(rk.get(), 0, t.get(), &md, static_cast<int>(timeout.count()));
  if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError("kafka: metadata of " + topic + ": " + rd_kafka_err2str(rc));
  }
  int n = 0;
  const bool known = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR;
  if (known) n = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  if (!known || n <= 0) throw KafkaError("kafka: topic " + topic + " is not known to the brokers");
  return n;
}

}  // namespace tierflow::kafka
