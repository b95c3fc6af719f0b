// `make bench`: campaign messages handed to channels per second through the local SMTP
// and HTTP servers (tests/support), beside those servers' own receive rate with a trivial
// sender in the same run.
//
//   baseline: the channels' send() called directly on `threads` threads, no store, no rules
//   service:  a birthday campaign of the same size claimed by CampaignService and sent by
//             the real Sender's run() loop (store marks before and after each batch, rules,
//             outcomes), timed from the first round until nothing is pending
//
// Usage: notification_campaign_bench [messages]   (default 50,000; half e-mail, half SMS)
// Prints both rates and their ratio; asserts nothing about time (the machine is shared).
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "src/campaigns.h"
#include "src/clock.h"
#include "src/grpc_service.h"
#include "src/sender.h"
#include "tests/support/fake_kafka.h"
#include "tests/support/http_server.h"
#include "tests/support/process.h"
#include "tests/support/smtp_server.h"
#include "workload.h"

using namespace tierflow;
using namespace tierflow::notification;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Config bench_config(const test_support::TempDir& dir, const test_support::SmtpServer& smtp,
                    const test_support::HttpServer& http) {
  Config cfg = workload::local_config(dir, smtp, http);
  cfg.rules.quiet_start_hour = cfg.rules.quiet_end_hour = 0;  // no quiet hours: every message is due
  return cfg;
}

channels::Message message(int i, bool email) {
  channels::Message m;
  m.dedupe_key = "bench:c-" + std::to_string(i) + ":birthday:2026";
  m.customer_id = "c-" + std::to_string(i);
  m.to = email ? "customer" + std::to_string(i) + "@example.com" : "+86138" + std::to_string(10000000 + i);
  m.subject = "生日快乐";
  m.body = "尊敬的客户：祝您生日快乐！";
  m.language = "zh-CN";
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 50'000;
  const int threads = 8;

  // Baseline: a trivial sender straight into the channels.
  double baseline = 0;
  {
    test_support::TempDir dir("tf-bench-baseline");
    test_support::SmtpServer smtp;
    test_support::HttpServer http;
    const Config cfg = bench_config(dir, smtp, http);
    auto chans = make_channels(cfg);
    std::atomic<int> next{0};
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int i; (i = next.fetch_add(1)) < n;) {
          const bool email = i % 2 == 0;
          chans.at(email ? v1::CHANNEL_EMAIL : v1::CHANNEL_SMS)->send(message(i, email));
        }
      });
    }
    for (auto& t : pool) t.join();
    smtp.wait_for(static_cast<size_t>(n + 1) / 2, std::chrono::seconds(30));
    baseline = n / seconds_since(t0);
    std::printf("baseline (trivial sender, %d threads): %d messages in %.2f s: %.0f messages/s (smtp %zu, http %zu)\n",
                threads, n, n / baseline, baseline, smtp.received(), http.received());
  }

  // The service's path: claimed by CampaignService, sent by the Sender.
  test_support::TempDir dir("tf-bench-service");
  test_support::SmtpServer smtp;
  test_support::HttpServer http;
  const Config cfg = bench_config(dir, smtp, http);
  const absl::Time now = absl::FromCivil(absl::CivilSecond(2026, 6, 15, 4, 0, 0), absl::UTCTimeZone());
  ManualClock clock(now);
  {
    std::vector<Recipient> rs;
    for (int i = 0; i < n; ++i) {
      v1::CustomerProfile p;
      p.set_customer_id("c-" + std::to_string(i));
      p.set_name("Customer " + std::to_string(i));
      p.set_time_zone("Asia/Shanghai");
      p.set_language("zh-CN");
      p.mutable_birthday()->set_month(6);
      p.mutable_birthday()->set_day(15);
      const bool email = i % 2 == 0;
      auto* c = p.add_consents();
      c->set_channel(email ? v1::CHANNEL_EMAIL : v1::CHANNEL_SMS);
      c->set_marketing(true);
      if (email) {
        p.set_email("customer" + std::to_string(i) + "@example.com");
      } else {
        p.set_phone("+86138" + std::to_string(10000000 + i));
      }
      rs.push_back({p, "gold", "", "", "Asia/Shanghai", false});
    }
    Store(cfg.store_path).put_recipients(rs);
  }
  calendar::HolidayCalendar holidays;
  Planner planner(cfg, holidays);
  CampaignService svc(cfg, clock, planner);
  grpc::ServerContext ctx;
  v1::CampaignRequest req;
  req.set_campaign_id("bench");
  req.set_kind(v1::CAMPAIGN_KIND_BIRTHDAY);
  req.add_channels(v1::CHANNEL_EMAIL);
  req.add_channels(v1::CHANNEL_SMS);
  v1::CampaignProgress progress;
  auto t_claim = std::chrono::steady_clock::now();
  if (auto st = svc.StartCampaign(&ctx, &req, &progress); !st.ok()) {
    std::fprintf(stderr, "start: %s\n", st.error_message().c_str());
    return 1;
  }
  const double claim_s = seconds_since(t_claim);
  testing::FakeProducer producer;
  prometheus::Registry registry;
  Sender sender(cfg, clock, producer, make_channels(cfg), &registry);
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::jthread running([&](std::stop_token st) { sender.run(st); });  // the service's pipelined loop
    Store store(cfg.store_path);
    while (store.progress("bench", absl::ToUnixSeconds(now)).pending > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const size_t sent = static_cast<size_t>(Store(cfg.store_path).progress("bench", 0).sent);
  const double service = sent / seconds_since(t0);
  std::printf("claim: %lld deliveries in %.2f s\n", static_cast<long long>(progress.audience()), claim_s);
  std::printf("service (Sender, %d threads, batch %d): %zu messages in %.2f s: %.0f messages/s (smtp %zu, http %zu)\n",
              cfg.sender.threads, cfg.sender.batch, sent, sent / service, service, smtp.received(), http.received());
  std::printf("ratio service / baseline: %.2f\n", service / baseline);
  return sent == static_cast<size_t>(n) ? 0 : 1;
}
