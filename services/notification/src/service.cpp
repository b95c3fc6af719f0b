#include "src/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "common/config/config.h"
#include "common/kafka/producer.h"
#include "common/kafka/topics.h"
#include "common/metrics/metrics.h"
#include "common/time/time.h"
#include "src/campaigns.h"
#include "src/channels.h"
#include "src/clock.h"
#include "src/content.h"
#include "src/outbox.h"
#include "src/sender.h"
#include "src/store.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::notification {

struct Worker::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : sent(metrics::counter(r, "tierflow_notification_deliveries_total", "Deliveries by outcome",
                              {{"status", "sent"}})),
        failed(metrics::counter(r, "tierflow_notification_deliveries_total", "", {{"status", "failed"}})),
        resent(metrics::counter(r, "tierflow_notification_resent_claims_total",
                                "Claims left unconfirmed by a crash, sent again with the same key")),
        capped(metrics::counter(r, "tierflow_notification_capped_total",
                                "Messages not sent because the customer had one within the cap period")),
        records(metrics::counter(r, "tierflow_notification_records_total", "Kafka records consumed")),
        poison(metrics::counter(r, "tierflow_notification_poison_total", "Records that could not be parsed")),
        unannounced_backfill(metrics::counter(r, "tierflow_notification_unannounced_assignments_total",
                                              "Tier assignments never announced to the customer, by the flag why",
                                              {{"reason", "backfill"}})),
        unannounced_provisional(metrics::counter(r, "tierflow_notification_unannounced_assignments_total", "",
                                                 {{"reason", "provisional"}})) {}
  prometheus::Counter& sent;
  prometheus::Counter& failed;
  prometheus::Counter& resent;
  prometheus::Counter& capped;
  prometheus::Counter& records;
  prometheus::Counter& poison;
  prometheus::Counter& unannounced_backfill;
  prometheus::Counter& unannounced_provisional;
};

Worker::Worker(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry,
               std::shared_ptr<OutboxPublisher> outbox, Sender* sender)
    : cfg_(cfg),
      producer_(producer),
      store_(std::make_unique<Store>(cfg.store_path)),
      file_channel_(std::make_unique<FileChannel>(cfg.file_channel_path)),
      metrics_(std::make_unique<Metrics>(registry)),
      outbox_(outbox ? std::move(outbox) : std::make_shared<OutboxPublisher>(cfg.store_path, producer)) {
  if (sender == nullptr) {
    own_clock_ = std::make_unique<SystemClock>();
    own_sender_ = std::make_unique<Sender>(cfg, *own_clock_, producer, make_channels(cfg), &registry, outbox_);
    sender = own_sender_.get();
  }
  clock_ = &sender->clock();
}

namespace {
// The first channel of the preference the customer can be reached on with transactional
// consent; else the first configured one (the sender then skips it for want of consent).
int tier_change_channel(const Config& cfg, const v1::CustomerProfile* p) {
  std::vector<int> prefs = cfg.tier_change_channels;
  if (prefs.empty()) {
    for (int ch : {v1::CHANNEL_EMAIL, v1::CHANNEL_SMS, v1::CHANNEL_WEBHOOK, v1::CHANNEL_FILE}) {
      if (channel_configured(cfg, ch)) prefs.push_back(ch);
    }
  }
  if (prefs.empty()) return v1::CHANNEL_FILE;
  for (int ch : prefs) {
    if (p == nullptr) {
      if (ch == v1::CHANNEL_FILE || ch == v1::CHANNEL_WEBHOOK) return ch;
      continue;
    }
    if (reachable(*p, ch) && consents(*p, ch, false)) return ch;
  }
  return prefs.front();
}
}  // namespace

void Worker::tick() { outbox_->tick(); }

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
  // The outcome record went into the outbox with the confirmation; tick() publishes it.
}

void Worker::resend_unconfirmed() {
  for (const auto& d : store_->unconfirmed()) {
    metrics_->resent.Increment();
    send(d);
  }
}

void Worker::run(std::stop_token stop) {
  resend_unconfirmed();
  outbox_->tick();  // what a previous run left unpublished
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
    if (r.value().empty() && !r.key().empty()) {
      // A tombstone: the customer asked to be erased.
      p.set_customer_id(std::string(r.key()));
      p.set_erased(true);
      profiles[p.customer_id()] = p;
      continue;
    }
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
  std::map<std::string, std::string> segments;  // the RFM segment each customer had last in this batch
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
    if (profile != nullptr && profile->erased()) profile = nullptr;
    if (const auto reason = unannounced_reason(a)) {
      // By the flag, never by age: no message of any kind. A provisional decision leaves the
      // directory alone too: audiences and the retention baseline follow the evaluation
      // points' decisions (the record), not the decisions between them. A backfilled one is
      // the customer's state as far as history goes, so the directory takes it.
      if (*reason == "provisional") {
        metrics_->unannounced_provisional.Increment();
        continue;
      }
      metrics_->unannounced_backfill.Increment();
      segments[a.customer_id()] = rfm_segment(a);
      batch.tiers.push_back({a.customer_id(), a.tier(), segments[a.customer_id()]});
      continue;
    }
    const std::string segment = rfm_segment(a);
    bool was_at_risk = false;
    if (auto it = segments.find(a.customer_id()); it != segments.end()) {
      was_at_risk = at_risk_segment(it->second);
    } else if (auto rec = store_->recipient(a.customer_id())) {
      was_at_risk = at_risk_segment(rec->segment);
    }
    segments[a.customer_id()] = segment;
    batch.tiers.push_back({a.customer_id(), a.tier(), segment});
    // Each kind of tier-change message is its own campaign with its own cap.
    const std::pair<const char*, std::optional<Message>> messages[] = {
        {"tier-change", upgrade_message(cfg_.policy, a, profile, now)},
        {"tier-downgrade", downgrade_warning(cfg_.policy, a, profile, now)},
        {"tier-retention", retention_message(cfg_.policy, a, profile, was_at_risk, now)}};
    for (const auto& [campaign, message] : messages) {
      if (!message) continue;
      // Service messages need the customer's transactional consent (absent consents: allowed).
      if (profile != nullptr && !consents(*profile, v1::CHANNEL_FILE, false)) {
        spdlog::info("{} message to customer {} not sent: no transactional consent", campaign, a.customer_id());
        continue;
      }
      const int64_t at = a.has_evaluated_time() ? a.evaluated_time().seconds() : absl::ToUnixSeconds(now);
      const std::string cap_key = a.customer_id() + "\x1f" + campaign;
      std::optional<int64_t> last;
      if (auto it = sent_in_batch.find(cap_key); it != sent_in_batch.end()) {
        last = it->second;
      } else {
        last = store_->last_sent(a.customer_id(), campaign);
      }
      if (last && at - *last < absl::ToInt64Seconds(cfg_.policy.cap_period)) {
        metrics_->capped.Increment();
        continue;
      }
      sent_in_batch[cap_key] = at;
      batch.sent.push_back({a.customer_id(), campaign, at});
      QueuedDelivery q;
      v1::Delivery& d = q.record;
      d.set_dedupe_key(message->dedupe_key);
      d.set_campaign_id(campaign);
      d.set_customer_id(a.customer_id());
      d.set_channel(static_cast<v1::Channel>(tier_change_channel(cfg_, profile)));
      d.set_status(v1::DELIVERY_STATUS_CLAIMED);
      d.set_subject(message->subject);
      d.set_body(message->body);
      d.set_occasion(message->dedupe_key);  // one message per change, whatever asks again
      if (profile != nullptr) d.set_language(profile->language());
      timeutil::to_proto(clock_->now(), d.mutable_claimed_time());
      timeutil::to_proto(clock_->now(), d.mutable_due_time());
      q.priority = 30;  // the tier change's (README, Rules at send time)
      q.marketing = false;
      batch.queued.push_back(std::move(q));
    }
  }
  for (auto& [_, p] : profiles) batch.profiles.push_back(std::move(p));
  for (const auto& [tp, offset] : next) batch.offsets.push_back({tp.first, tp.second, offset});
  // The poison records are in their .dlq before the offsets past them are stored.
  dead_letters.confirm();
  for (const auto& d : store_->apply(batch)) send(d);  // none but from an older version's batches
  if (own_sender_ && !batch.queued.empty()) {
    // Inline: what is due now goes out before the next batch (deferred ones wait for a later round).
    for (int i = 0; i < 100 && own_sender_->run_once().handled() > 0; ++i) {
    }
  }
}

}  // namespace tierflow::notification
