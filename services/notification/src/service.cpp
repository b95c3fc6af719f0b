#include "src/service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "common/config/config.h"
#include "common/errors/errors.h"
#include "common/grpc/status.h"
#include "common/kafka/producer.h"
#include "common/kafka/topics.h"
#include "common/metrics/metrics.h"
#include "common/time/time.h"
#include "src/channels.h"
#include "src/store.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::notification {

Config load_config(const std::string& path) {
  config::Loader loader(path);
  auto root = loader.root();
  Config c;
  config::read_service(root, "notification", "127.0.0.1:7004", "127.0.0.1:9104", c);
  c.store_path = root.get_string("store_path", c.store_path);
  c.group_id = root.get_string("group_id", c.group_id);
  c.file_channel_path = root.section("channels").section("file").get_string("path", c.file_channel_path);
  auto tc = root.section("tier_change");
  c.policy.tier_order = tc.get_string_list("tier_order", c.policy.tier_order);
  c.policy.notify_from = tc.get_string("notify_from", c.policy.notify_from);
  c.policy.max_age = absl::Seconds(tc.get_int("max_age_s", absl::ToInt64Seconds(c.policy.max_age), 0, INT64_C(1) << 40));
  c.policy.cap_period = absl::Seconds(tc.get_int("cap_period_s", absl::ToInt64Seconds(c.policy.cap_period), 0, INT64_C(1) << 40));
  if (c.policy.tier_order.empty()) throw config::ConfigError(loader.file() + ": key 'tier_change.tier_order': must list the tiers, lowest first");
  if (std::find(c.policy.tier_order.begin(), c.policy.tier_order.end(), c.policy.notify_from) == c.policy.tier_order.end()) {
    throw config::ConfigError(loader.file() + ": key 'tier_change.notify_from': '" + c.policy.notify_from +
                              "' is not in tier_change.tier_order");
  }
  loader.finish();
  return c;
}

struct Worker::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : sent(metrics::counter(r, "tierflow_notification_deliveries_total", "Deliveries by outcome", {{"status", "sent"}})),
        failed(metrics::counter(r, "tierflow_notification_deliveries_total", "", {{"status", "failed"}})),
        resent(metrics::counter(r, "tierflow_notification_resent_claims_total",
                                "Claims left unconfirmed by a crash, sent again with the same key")),
        capped(metrics::counter(r, "tierflow_notification_capped_total",
                                "Messages not sent because the customer had one within the cap period")),
        records(metrics::counter(r, "tierflow_notification_records_total", "Kafka records consumed")),
        poison(metrics::counter(r, "tierflow_notification_poison_total", "Records that could not be parsed")) {}
  prometheus::Counter& sent;
  prometheus::Counter& failed;
  prometheus::Counter& resent;
  prometheus::Counter& capped;
  prometheus::Counter& records;
  prometheus::Counter& poison;
};

Worker::Worker(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry)
    : cfg_(cfg), producer_(producer), store_(std::make_unique<Store>(cfg.store_path)),
      file_channel_(std::make_unique<FileChannel>(cfg.file_channel_path)),
      metrics_(std::make_unique<Metrics>(registry)) {}

Worker::~Worker() = default;

void Worker::send(const v1::Delivery& claimed) {
  v1::Delivery outgoing = claimed;
  outgoing.set_status(v1::DELIVERY_STATUS_SENT);
  timeutil::to_proto(absl::Now(), outgoing.mutable_sent_time());
  const std::string error = file_channel_->send(outgoing);
  store_->confirm(claimed.dedupe_key(), error.empty() ? v1::DELIVERY_STATUS_SENT : v1::DELIVERY_STATUS_FAILED, error);
  if (!error.empty()) {
    metrics_->failed.Increment();
    spdlog::error("delivery {} to customer {} failed: {}", claimed.dedupe_key(), claimed.customer_id(), error);
    return;
  }
  metrics_->sent.Increment();
  spdlog::info("sent {} to customer {}", claimed.dedupe_key(), claimed.customer_id());
  try {
    producer_.produce(topics::kDeliveries, outgoing.customer_id(), outgoing.SerializeAsString(),
                      {{std::string(kafka::kTypeHeader), "tierflow.v1.Delivery"}}, [](const kafka::DeliveryReport& r) {
                        if (!r.ok) spdlog::warn("delivery record not published: {}", r.error);
                      });
  } catch (const kafka::KafkaError& e) {
    // The delivery itself is confirmed in the store; only its record on the topic is lost.
    spdlog::warn("delivery record {} not queued: {}", claimed.dedupe_key(), e.what());
  }
}

void Worker::resend_unconfirmed() {
  for (const auto& d : store_->unconfirmed()) {
    metrics_->resent.Increment();
    send(d);
  }
}

void Worker::run(std::stop_token stop) {
  resend_unconfirmed();
  kafka::ConsumerOptions options;
  options.bootstrap = config::resolve_bootstrap(cfg_.kafka);
  options.group_id = cfg_.group_id;
  options.client_id = cfg_.kafka.client_id;
  options.session_timeout = cfg_.kafka.session_timeout;
  options.topics = {std::string(topics::kCustomers), std::string(topics::kAssignments)};
  options.max_batch = 2000;
  options.poll_timeout = std::chrono::milliseconds(200);
  options.properties = cfg_.kafka.properties;
  kafka::ConsumerLoop(std::move(options), *this, producer_).run(stop);
}

std::optional<int64_t> Worker::start_offset(std::string_view topic, int32_t partition) {
  return store_->next_offset(std::string(topic), partition);
}

void Worker::handle(std::span<const kafka::Record> records, kafka::DeadLetters& dead_letters) {
  Store::Batch batch;
  std::map<std::pair<std::string, int32_t>, int64_t> next;
  // Profiles first so a message in the same batch sees its recipient's name.
  std::map<std::string, v1::CustomerProfile> profiles;
  auto poison = [&](const kafka::Record& r, std::string_view reason) {
    metrics_->poison.Increment();
    dead_letters.add(r, reason);
  };
  for (const auto& r : records) {
    metrics_->records.Increment();
    next[{std::string(r.topic()), r.partition()}] = r.offset() + 1;
    if (r.topic() != topics::kCustomers) continue;
    v1::CustomerProfile p;
    if (!p.ParseFromArray(r.value().data(), static_cast<int>(r.value().size()))) {
      poison(r, "value is not a tierflow.v1.CustomerProfile");
      continue;
    }
    if (p.customer_id().empty()) {
      poison(r, "profile has no customer_id");
      continue;
    }
    profiles[p.customer_id()] = p;
  }
  // Newest message time per customer in this batch, on top of the store's, for the cap.
  std::map<std::string, int64_t> sent_in_batch;
  const absl::Time now = absl::Now();
  for (const auto& r : records) {
    if (r.topic() != topics::kAssignments) continue;
    v1::TierAssignment a;
    if (!a.ParseFromArray(r.value().data(), static_cast<int>(r.value().size()))) {
      poison(r, "value is not a tierflow.v1.TierAssignment");
      continue;
    }
    if (a.customer_id().empty()) {
      poison(r, "assignment has no customer_id");
      continue;
    }
    std::optional<v1::CustomerProfile> stored;
    const v1::CustomerProfile* profile = nullptr;
    if (auto it = profiles.find(a.customer_id()); it != profiles.end()) {
      profile = &it->second;
    } else if ((stored = store_->profile(a.customer_id()))) {
      profile = &*stored;
    }
    auto message = upgrade_message(cfg_.policy, a, profile, now);
    if (!message) continue;
    const int64_t at = a.has_evaluated_time() ? a.evaluated_time().seconds() : absl::ToUnixSeconds(now);
    std::optional<int64_t> last;
    if (auto it = sent_in_batch.find(a.customer_id()); it != sent_in_batch.end()) {
      last = it->second;
    } else {
      last = store_->last_sent(a.customer_id(), "tier-change");
    }
    if (last && at - *last < absl::ToInt64Seconds(cfg_.policy.cap_period)) {
      metrics_->capped.Increment();
      continue;
    }
    sent_in_batch[a.customer_id()] = at;
    batch.sent.push_back({a.customer_id(), "tier-change", at});
    v1::Delivery d;
    d.set_dedupe_key(message->dedupe_key);
    d.set_campaign_id("tier-change");
    d.set_customer_id(a.customer_id());
    d.set_channel(v1::CHANNEL_FILE);
    d.set_status(v1::DELIVERY_STATUS_CLAIMED);
    d.set_subject(message->subject);
    d.set_body(message->body);
    timeutil::to_proto(absl::Now(), d.mutable_claimed_time());
    batch.claims.push_back(std::move(d));
  }
  for (auto& [_, p] : profiles) batch.profiles.push_back(std::move(p));
  for (const auto& [tp, offset] : next) batch.offsets.push_back({tp.first, tp.second, offset});
  // The poison records are in their .dlq before the offsets past them are stored.
  dead_letters.confirm();
  for (const auto& d : store_->apply(batch)) send(d);
}

CampaignService::CampaignService(const Config& cfg) : cfg_(cfg) {}
CampaignService::~CampaignService() = default;

grpc::Status CampaignService::ListDeliveries(grpc::ServerContext*, const v1::ListDeliveriesRequest* req,
                                             v1::ListDeliveriesResponse* resp) {
  return grpcx::guarded([&] {
    int64_t before = INT64_MAX;
    if (!req->page().page_token().empty()) {
      const std::string& token = req->page().page_token();
      auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), before);
      if (ec != std::errc() || end != token.data() + token.size() || before <= 0) {
        throw errors::InvalidArgument("page.page_token '" + token + "' is not a token this service returned");
      }
    }
    Store store(cfg_.store_path);  // a connection of this call's own; WAL lets it read beside the writer
    const int limit = req->page().page_size() > 0 ? std::min(req->page().page_size(), 1000) : 100;
    int64_t last = 0;
    for (auto& d : store.deliveries(req->customer_id(), limit, before, &last)) {
      if (!req->campaign_id().empty() && d.campaign_id() != req->campaign_id()) continue;
      *resp->add_deliveries() = std::move(d);
    }
    if (last > 1) resp->set_next_page_token(std::to_string(last));
    return grpc::Status::OK;
  });
}

}  // namespace tierflow::notification
