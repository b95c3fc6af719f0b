#include "src/sender.h"

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <unordered_map>

#include "common/kafka/topics.h"
#include "common/metrics/metrics.h"
#include "common/time/time.h"
#include "services/notification/src/channels/http_sms.h"
#include "services/notification/src/channels/smtp.h"
#include "services/notification/src/channels/webhook.h"
#include "src/campaigns.h"
#include "src/channels.h"
#include "src/content.h"

namespace tierflow::notification {

namespace {

// The local outbox as a campaign channel: one JSON delivery a line (channels.h).
class FileOutbox final : public channels::Channel {
 public:
  explicit FileOutbox(std::string path) : file_(std::move(path)) {}
  std::string_view name() const override { return "file"; }
  channels::SendResult send(const channels::Message& m) override {
    v1::Delivery d;
    d.set_dedupe_key(m.dedupe_key);
    d.set_campaign_id(m.dedupe_key.substr(0, m.dedupe_key.find(':')));
    d.set_customer_id(m.customer_id);
    d.set_channel(v1::CHANNEL_FILE);
    d.set_status(v1::DELIVERY_STATUS_SENT);
    d.set_subject(m.subject);
    d.set_body(m.body);
    d.set_language(m.language);
    channels::SendResult r;
    r.provider_id = m.dedupe_key;
    if (std::string error = file_.send(d); !error.empty()) {
      r.status = channels::SendStatus::kRetryable;
      r.reason = error;
    }
    return r;
  }

 private:
  FileChannel file_;
};

}  // namespace

ChannelMap make_channels(const Config& cfg) {
  ChannelMap m;
  if (cfg.smtp) m[v1::CHANNEL_EMAIL] = std::make_shared<channels::SmtpChannel>(*cfg.smtp);
  if (cfg.sms) m[v1::CHANNEL_SMS] = std::make_shared<channels::HttpSmsChannel>(*cfg.sms);
  if (cfg.webhook) m[v1::CHANNEL_WEBHOOK] = std::make_shared<channels::WebhookChannel>(*cfg.webhook);
  if (cfg.file_channel) m[v1::CHANNEL_FILE] = std::make_shared<FileOutbox>(cfg.file_channel_path);
  return m;
}

bool in_quiet_hours(int hour, int start, int end) {
  if (start == end) return false;
  return start < end ? (hour >= start && hour < end) : (hour >= start || hour < end);
}

absl::Time quiet_hours_end(absl::Time now, const absl::TimeZone& zone, int start, int end) {
  const absl::CivilSecond local = absl::ToCivilSecond(now, zone);
  absl::CivilDay day(local);
  if (local.hour() >= end) day += 1;  // before midnight: tomorrow morning
  (void)start;
  return absl::FromCivil(absl::CivilHour(day) + end, zone);
}

struct Sender::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : sent(metrics::counter(r, "tierflow_notification_campaign_deliveries_total", "Campaign deliveries by outcome",
                              {{"outcome", "sent"}})),
        failed(metrics::counter(r, "tierflow_notification_campaign_deliveries_total", "", {{"outcome", "failed"}})),
        skipped(metrics::counter(r, "tierflow_notification_campaign_deliveries_total", "", {{"outcome", "skipped"}})),
        deferred(metrics::counter(r, "tierflow_notification_campaign_deferred_total",
                                  "Deliveries deferred (quiet hours, cap)")),
        retried(metrics::counter(r, "tierflow_notification_campaign_retries_total",
                                 "Sends that failed and will be retried")) {}
  prometheus::Counter& sent;
  prometheus::Counter& failed;
  prometheus::Counter& skipped;
  prometheus::Counter& deferred;
  prometheus::Counter& retried;
};

Sender::Sender(const Config& cfg, const Clock& clock, kafka::Producer& producer, ChannelMap channels,
               prometheus::Registry* registry, std::shared_ptr<OutboxPublisher> outbox)
    : cfg_(cfg),
      clock_(clock),
      producer_(producer),
      channels_(std::move(channels)),
      store_(cfg.store_path),
      outbox_(outbox ? std::move(outbox) : std::make_shared<OutboxPublisher>(cfg.store_path, producer)) {
  static prometheus::Registry fallback;
  metrics_ = std::make_unique<Metrics>(registry ? *registry : fallback);
  // The sweep: what a crash left in flight is due again, to be resent under its own key.
  if (const int64_t n = store_.release_in_flight(); n > 0) {
    spdlog::warn("{} deliveries were in flight at a crash: resending them under their own keys", n);
  }
  for (int i = 0; i < cfg_.sender.threads; ++i) pool_.emplace_back([this](std::stop_token st) { worker(st); });
}

Sender::~Sender() {
  for (auto& t : pool_) t.request_stop();
  work_.notify_all();
  pool_.clear();
}

bool Sender::take_token(const std::string& channel) {
  auto it = cfg_.rules.rate_per_s.find(channel);
  if (it == cfg_.rules.rate_per_s.end() || it->second <= 0) return true;
  const absl::Time now = absl::Now();  // rates are wall-clock rates, whatever the campaign clock says
  Bucket& b = buckets_[channel];
  if (b.refilled == absl::Time()) b = {static_cast<double>(it->second), now};
  b.tokens = std::min<double>(it->second, b.tokens + absl::ToDoubleSeconds(now - b.refilled) * it->second);
  b.refilled = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void Sender::dispatch(Round& round, std::vector<v1::Delivery>& outcomes) {
  const absl::Time now = clock_.now();
  const int64_t now_s = absl::ToUnixSeconds(now);
  auto due = store_.due(now_s, cfg_.sender.batch);
  if (due.empty()) return;
  std::stable_sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.priority > b.priority; });

  std::vector<DeliveryUpdate> before;  // decided without sending, and the in-flight marks
  std::vector<Job> jobs;
  std::unordered_map<std::string, int> cap_in_batch;
  for (auto& q : due) {
    v1::Delivery& d = q.record;
    auto it = campaigns_.find(d.campaign_id());
    if (it == campaigns_.end()) {
      auto row = store_.campaign(d.campaign_id());
      it = campaigns_.emplace(d.campaign_id(), row ? row->request : v1::CampaignRequest{}).first;
    }
    const v1::CampaignRequest& campaign = it->second;
    auto skip = [&](const std::string& why) {
      d.set_status(v1::DELIVERY_STATUS_SKIPPED);
      d.set_error(why);
      before.push_back({q.id, d});
      outcomes.push_back(d);
      ++round.skipped;
      metrics_->skipped.Increment();
    };
    auto defer = [&](absl::Time until, const char* why) {
      timeutil::to_proto(until, d.mutable_due_time());
      d.set_error(why);  // why it waits (GetCampaign's notes); cleared when it goes
      before.push_back({q.id, d});
      ++round.deferred;
      metrics_->deferred.Increment();
    };
    // Consent and erasure are read now, not at claim time: a withdrawal counts before the next send.
    const auto rec = store_.recipient(d.customer_id());
    if (!rec || rec->erased) {
      skip("erased");
      continue;
    }
    const auto& p = rec->profile;
    if (!consents(p, d.channel(), q.marketing)) {
      skip("consent withdrawn");
      continue;
    }
    if (campaign.window().has_not_after() && now > timeutil::from_proto(campaign.window().not_after())) {
      skip("send window closed");
      continue;
    }
    absl::TimeZone tz;
    if (!absl::LoadTimeZone(rec->zone.empty() ? cfg_.default_time_zone : rec->zone, &tz)) tz = absl::UTCTimeZone();
    int qs = cfg_.rules.quiet_start_hour, qe = cfg_.rules.quiet_end_hour;
    if (campaign.window().quiet_start_hour() != campaign.window().quiet_end_hour()) {
      qs = campaign.window().quiet_start_hour();
      qe = campaign.window().quiet_end_hour();
    }
    // Transactional messages too (a tier change at 3 a.m. waits for the morning), unless turned off.
    if ((q.marketing || cfg_.rules.transactional_quiet_hours) && in_quiet_hours(absl::ToCivilHour(now, tz).hour(), qs, qe)) {
      defer(quiet_hours_end(now, tz, qs, qe), "quiet hours");
      continue;
    }
    if (q.marketing && d.attempts() == 0) {
      auto [count, oldest] = store_.cap_window(d.customer_id(), now_s - absl::ToInt64Seconds(cfg_.rules.cap_period));
      int& extra = cap_in_batch[d.customer_id()];
      // The last free slot goes to a higher-priority message waiting for the customer.
      const bool last_slot = count + extra + 1 >= cfg_.rules.cap_count;
      if (count + extra >= cfg_.rules.cap_count ||
          (last_slot && store_.higher_priority_due(d.customer_id(), q.priority, now_s))) {
        const int64_t free_at = (count > 0 ? oldest : now_s) + absl::ToInt64Seconds(cfg_.rules.cap_period) + 1;
        defer(absl::FromUnixSeconds(std::max(free_at, now_s + 1)), "the marketing cap");
        continue;
      }
      ++extra;
    }
    const std::string channel(channel_name(d.channel()));
    if (channels_.find(d.channel()) == channels_.end()) {
      d.set_status(v1::DELIVERY_STATUS_FAILED);
      d.set_error("channel " + channel + " is not configured");
      before.push_back({q.id, d});
      outcomes.push_back(d);
      ++round.failed;
      metrics_->failed.Increment();
      continue;
    }
    if (!take_token(channel)) {
      ++round.waiting;
      continue;  // stays due; a later round
    }
    if (d.error() == "quiet hours" || d.error() == "the marketing cap") d.clear_error();
    d.set_attempts(d.attempts() + 1);
    DeliveryUpdate mark{q.id, d, q.marketing, now_s};
    mark.inflight = true;
    before.push_back(mark);
    Job job;
    job.update = std::move(mark);
    job.message.dedupe_key = d.dedupe_key();
    job.message.customer_id = d.customer_id();
    job.message.to = contact_of(p, d.channel());
    job.message.subject = d.subject();
    job.message.body = d.body();
    job.message.language = d.language();
    jobs.push_back(std::move(job));
  }
  // BEFORE: the in-flight marks (and the deferrals and skips) are durable before any send.
  store_.update(before);
  if (jobs.empty()) return;
  std::lock_guard lock(mu_);
  in_flight_ += jobs.size();
  for (auto& j : jobs) queue_.push_back(std::move(j));
  work_.notify_all();
}

void Sender::worker(std::stop_token stop) {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      work_.wait(lock, stop, [&] { return !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    channels::SendResult result;
    try {
      result = channels_.at(job.update.record.channel())->send(job.message);
    } catch (const std::exception& e) {
      result.status = channels::SendStatus::kPermanent;
      result.reason = e.what();
    }
    std::lock_guard lock(mu_);
    done_.push_back({std::move(job.update), std::move(result)});
    finished_.notify_all();
  }
}

void Sender::collect(Round& round, std::vector<v1::Delivery>& outcomes, bool wait_all) {
  std::vector<std::pair<DeliveryUpdate, channels::SendResult>> done;
  {
    std::unique_lock lock(mu_);
    if (wait_all) {
      finished_.wait(lock, [&] { return done_.size() == in_flight_; });
    } else if (done_.empty() && in_flight_ > 0) {
      finished_.wait_for(lock, std::chrono::milliseconds(2), [&] { return !done_.empty(); });
    }
    done.swap(done_);
    in_flight_ -= done.size();
  }
  if (done.empty()) return;
  // AFTER: the outcomes.
  std::vector<DeliveryUpdate> after;
  const absl::Time at = clock_.now();
  for (auto& [u, r] : done) {
    u.count_against_cap = false;
    u.inflight = false;
    v1::Delivery& d = u.record;
    if (r.sent()) {
      d.set_status(v1::DELIVERY_STATUS_SENT);
      d.clear_error();
      timeutil::to_proto(at, d.mutable_sent_time());
      ++round.sent;
      metrics_->sent.Increment();
      outcomes.push_back(d);
    } else if (r.status == channels::SendStatus::kRetryable && d.attempts() < cfg_.rules.max_attempts) {
      d.set_error(r.reason);
      const absl::Duration wait =
          std::min(cfg_.rules.max_backoff, cfg_.rules.backoff * (1 << std::min(d.attempts() - 1, 20)));
      timeutil::to_proto(at + wait, d.mutable_due_time());
      ++round.retried;
      metrics_->retried.Increment();
      spdlog::warn("delivery {} to customer {}: attempt {} failed, retrying: {}", d.dedupe_key(), d.customer_id(),
                   d.attempts(), r.reason);
    } else {
      d.set_status(v1::DELIVERY_STATUS_FAILED);
      d.set_error(r.reason);
      ++round.failed;
      metrics_->failed.Increment();
      outcomes.push_back(d);
      spdlog::error("delivery {} to customer {} failed after {} attempts: {}", d.dedupe_key(), d.customer_id(),
                    d.attempts(), r.reason);
    }
    after.push_back(std::move(u));
  }
  store_.update(after);
}

Sender::Round Sender::run_once() {
  Round round;
  std::vector<v1::Delivery> outcomes;
  dispatch(round, outcomes);
  collect(round, outcomes, true);
  outbox_->tick();
  return round;
}

void Sender::run(std::stop_token stop) {
  // Pipelined: the next batch is read, checked and marked while the last one is sent.
  const size_t max_in_flight = 2 * static_cast<size_t>(cfg_.sender.batch);
  outbox_->tick();  // what a previous run left unpublished
  while (!stop.stop_requested()) {
    Round round;
    std::vector<v1::Delivery> outcomes;
    size_t in_flight;
    {
      std::lock_guard lock(mu_);
      in_flight = in_flight_;
    }
    if (in_flight < max_in_flight) dispatch(round, outcomes);
    collect(round, outcomes, false);
    outbox_->tick();
    {
      std::lock_guard lock(mu_);
      in_flight = in_flight_;
    }
    if (round.handled() == 0 && in_flight == 0) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(round.waiting > 0 ? 5 : absl::ToInt64Milliseconds(cfg_.sender.idle_poll)));
    }
  }
  // Let what is in flight finish and be confirmed (a kill instead leaves it to the sweep).
  Round round;
  std::vector<v1::Delivery> outcomes;
  collect(round, outcomes, true);
  outbox_->tick();
  outbox_->drain(std::chrono::seconds(5));
}

}  // namespace tierflow::notification
