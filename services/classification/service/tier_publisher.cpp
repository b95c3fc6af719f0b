#include "service/tier_publisher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/kafka/producer.h"
#include "common/kafka/topics.h"
#include "common/redis/mux.h"
#include "service/probe.h"
#include "service/store.h"

namespace tierflow::classification {

// Writes assignments to Redis through a pipelined connection of its own (redis::Mux: the
// keeper's refills of millions never queue in front of GetTier's reads) and waits for the
// answers, so a publish returns when Redis holds the new tiers (an override is read back
// at once). Remembers nothing it cannot rebuild. Used under the keeper's unique lock only.
class RedisWriter {
 public:
  explicit RedisWriter(const config::RedisConfig& cfg)
      : mux_(cfg), timeout_(2 * cfg.timeout) {}  // a connect and a round trip

  // Throws RedisError when Redis cannot be reached or refuses a write.
  void write(const std::vector<const v1::TierAssignment*>& assignments) {
    constexpr size_t kChunk = 1000;  // bounded pipelines, so a refill of millions stays small in memory
    for (size_t from = 0; from < assignments.size(); from += kChunk) {
      const size_t to = std::min(assignments.size(), from + kChunk);
      std::vector<redis::Mux::Command> cmds;
      cmds.reserve(to - from);
      for (size_t i = from; i < to; ++i) {
        const auto* a = assignments[i];
        cmds.push_back({"HSET", redis_key(a->customer_id()), "tier", a->tier(), "previous_tier", a->previous_tier(),
                        "reason", a->reasons_size() > 0 ? a->reasons(0) : "", "version", std::to_string(a->version()),
                        "standard", a->standard_version(), "credit_hold", a->credit_hold() ? "1" : "0", "proto",
                        a->SerializeAsString()});
      }
      for (const auto& reply : mux_.call_all(std::move(cmds), timeout_)) {
        if (reply.is_error()) throw redis::RedisError("HSET of an assignment failed: " + reply.str);
      }
    }
  }

  // Redis lost its data (restart without persistence) when our marker key is gone.
  bool lost() { return mux_.call({"EXISTS", std::string(kMarker)}, timeout_).integer == 0; }
  void mark() { mux_.call({"SET", std::string(kMarker), "1"}, timeout_); }

 private:
  static constexpr std::string_view kMarker = "tf:tiers:loaded";
  redis::Mux mux_;
  const std::chrono::milliseconds timeout_;
};

TierPublisher::TierPublisher(const Config& cfg, kafka::Producer& producer, Store& store, Probe& probe)
    : cfg_(cfg),
      producer_(producer),
      store_(store),
      probe_(probe),
      redis_(std::make_unique<RedisWriter>(cfg.redis)),
      deliveries_(std::make_shared<Deliveries>()) {}

TierPublisher::~TierPublisher() { close_watchers(); }

void TierPublisher::produce(const std::vector<const v1::TierAssignment*>& assignments) {
  try {
    for (const auto* a : assignments) {
      producer_.produce(topics::kAssignments, a->customer_id(), a->SerializeAsString(),
                        {{std::string(kafka::kTypeHeader), "tierflow.v1.TierAssignment"}},
                        [d = deliveries_, id = a->customer_id(), v = a->version()](const kafka::DeliveryReport& r) {
                          std::lock_guard lock(d->mu);
                          if (r.ok) {
                            d->confirmed.emplace_back(id, v);
                          } else {
                            spdlog::error("assignment v{} of customer {} not published: {}", v, id, r.error);
                            d->failed = true;
                          }
                        });
    }
  } catch (const kafka::KafkaError& e) {
    // Committed but not queued: the outbox publishes it again.
    spdlog::error("assignments not queued for Kafka, will retry: {}", e.what());
    republish_ = true;
  }
}

void TierPublisher::publish(const std::vector<const v1::TierAssignment*>& changed) {
  if (changed.empty()) return;
  produce(changed);
  if (!redis_stale_) {
    try {
      redis_->write(changed);
    } catch (const redis::RedisError& e) {
      spdlog::error("assignments not written to redis, will refill: {}", e.what());
      redis_stale_ = true;
    }
  }
  {
    std::lock_guard lock(watchers_mu_);
    std::erase_if(watchers_, [&](const std::shared_ptr<Watcher>& w) {
      for (const auto* a : changed) {
        if (!w->offer(*a)) {
          probe_.watchers_dropped.Increment();
          spdlog::warn("a watcher fell {} changes behind and was dropped", cfg_.watch_queue_size);
          return true;
        }
      }
      return false;
    });
  }
  probe_.changes.Increment(static_cast<double>(changed.size()));
  spdlog::info("{} assignments changed", changed.size());
}

bool TierPublisher::attention_due(std::chrono::steady_clock::time_point now) const {
  {
    std::lock_guard lock(deliveries_->mu);
    if (deliveries_->failed) return true;
  }
  return redis_stale_ && now >= redis_retry_at_.load();
}

void TierPublisher::maintain(std::chrono::steady_clock::time_point now) {
  bool delivery_failed = false;
  {
    std::lock_guard lock(deliveries_->mu);
    delivery_failed = deliveries_->failed;
  }
  if (republish_ || delivery_failed) republish_unconfirmed();
  if (now >= redis_retry_at_.load()) {
    try {
      refill_redis_if_lost();
    } catch (const redis::RedisError& e) {
      spdlog::error("redis unavailable (tiers are still evaluated and published to Kafka): {}", e.what());
      redis_stale_ = true;
      redis_retry_at_ = now + std::chrono::seconds(1);
    }
  }
}

void TierPublisher::take_confirmed(std::vector<std::pair<std::string, int64_t>>& out) {
  std::lock_guard lock(deliveries_->mu);
  out.swap(deliveries_->confirmed);
}

void TierPublisher::republish_unconfirmed() {
  // Confirmations received since the last commit are recorded first, so only what the
  // broker never confirmed goes out again.
  Store::Batch marks;
  {
    std::lock_guard lock(deliveries_->mu);
    deliveries_->failed = false;
    marks.published.swap(deliveries_->confirmed);
  }
  store_.apply(marks);
  republish_ = false;
  const auto rows = store_.unpublished();
  if (rows.empty()) return;
  std::vector<const v1::TierAssignment*> all;
  all.reserve(rows.size());
  for (const auto& a : rows) all.push_back(&a);
  produce(all);
  redis_stale_ = true;  // Redis may have missed them too: the refill writes every current assignment
  probe_.republished.Increment(static_cast<double>(rows.size()));
  spdlog::warn("{} assignments not confirmed by the broker were published again", rows.size());
}

void TierPublisher::refill_redis_if_lost() {
  if (!redis_stale_ && !redis_->lost()) return;
  // From the store, in bounded chunks (memory holds no assignments).
  size_t refilled = 0;
  std::vector<v1::TierAssignment> chunk;
  auto flush = [&] {
    std::vector<const v1::TierAssignment*> ptrs;
    ptrs.reserve(chunk.size());
    for (const auto& a : chunk) ptrs.push_back(&a);
    redis_->write(ptrs);
    refilled += chunk.size();
    chunk.clear();
  };
  store_.currents("", [&](v1::TierAssignment&& a) {
    chunk.push_back(std::move(a));
    if (chunk.size() == 1000) flush();
    return true;
  });
  flush();
  redis_->mark();
  redis_stale_ = false;
  if (refilled > 0) spdlog::warn("redis had lost or missed tiers: refilled {} customers", refilled);
}

std::shared_ptr<Watcher> TierPublisher::watch(std::vector<std::string> tiers) {
  auto w = std::make_shared<Watcher>(std::move(tiers), static_cast<size_t>(cfg_.watch_queue_size));
  std::lock_guard lock(watchers_mu_);
  if (watchers_closed_) {
    w->close();
  } else {
    watchers_.push_back(w);
  }
  return w;
}

void TierPublisher::unwatch(const std::shared_ptr<Watcher>& w) {
  std::lock_guard lock(watchers_mu_);
  std::erase(watchers_, w);
}

void TierPublisher::close_watchers() {
  std::lock_guard lock(watchers_mu_);
  watchers_closed_ = true;
  for (const auto& w : watchers_) w->close();
  watchers_.clear();
}

}  // namespace tierflow::classification
