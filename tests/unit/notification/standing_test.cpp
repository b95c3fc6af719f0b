// The standing daily birthday campaign over 400 simulated days (an injectable clock,
// hourly steps) with the service down for hours on some days and restarted each time:
// every customer is greeted once a year, on the right date in their own zone, solar and
// lunar, 29 February included (28 February in common years). A day the service was down
// for entirely is caught up late (catch_up) or reported with its count (report).
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "services/notification/src/calendar/birthday.h"
#include "src/campaigns.h"
#include "src/clock.h"
#include "src/sender.h"
#include "src/standing.h"
#include "src/store.h"
#include "tests/support/fake_kafka.h"

namespace tierflow::notification {
namespace {

// Records who was greeted when (on the simulated clock).
class ClockedChannel final : public channels::Channel {
 public:
  explicit ClockedChannel(const Clock& clock) : clock_(clock) {}
  std::string_view name() const override { return "clocked"; }
  channels::SendResult send(const channels::Message& m) override {
    std::lock_guard lock(mu_);
    sent.push_back({m.customer_id, m.dedupe_key, clock_.now()});
    return {};
  }
  struct Sent {
    std::string customer_id, key;
    absl::Time at;
  };
  std::vector<Sent> sent;

 private:
  const Clock& clock_;
  std::mutex mu_;
};

const std::vector<std::string> kZones{"Asia/Shanghai",    "Asia/Tokyo",          "Europe/London",
                                      "America/New_York", "America/Los_Angeles", "Pacific/Auckland"};

class StandingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tf-standing-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    cfg_.store_path = (dir_ / "n.db").string();
    cfg_.file_channel_path = (dir_ / "messages.jsonl").string();
    cfg_.rules.cap_count = 100;
    StandingCampaign sc;
    sc.id = "daily-birthday";
    sc.birthday = true;
    sc.at_hour = 9;
    sc.channels = {v1::CHANNEL_FILE};
    cfg_.standing = {sc};
    planner_ = std::make_unique<Planner>(cfg_, holidays_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `n` customers over the zones; every 7th keeps a lunar birthday, every 50th was born on 29 February.
  void populate(int n) {
    std::mt19937 rng(20260615);
    std::vector<Recipient> rs;
    for (int i = 0; i < n; ++i) {
      v1::CustomerProfile p;
      p.set_customer_id("c-" + std::to_string(i));
      p.set_time_zone(kZones[i % kZones.size()]);
      p.set_language("en");
      auto* c = p.add_consents();
      c->set_channel(v1::CHANNEL_EMAIL);
      c->set_marketing(true);
      if (i % 7 == 3) {
        auto* l = p.mutable_lunar_birthday();
        l->set_month(static_cast<int>(rng() % 12) + 1);
        l->set_day(i % 21 == 3 ? 30 : static_cast<int>(rng() % 30) + 1);  // day 30: a 29-day month greets on the 29th
        l->set_leap_month(i % 49 == 3);
      } else if (i % 50 == 0) {
        p.mutable_birthday()->set_month(2);
        p.mutable_birthday()->set_day(29);
      } else {
        const int month = static_cast<int>(rng() % 12) + 1;
        const int days = static_cast<int>(absl::CivilDay(2027, month + 1, 1) - absl::CivilDay(2027, month, 1));
        p.mutable_birthday()->set_month(month);
        p.mutable_birthday()->set_day(static_cast<int>(rng() % days) + 1);
      }
      profiles_[p.customer_id()] = p;
      rs.push_back({p, "gold", "", "", p.time_zone(), false});
    }
    Store(cfg_.store_path).put_recipients(rs);
  }

  // The local dates a customer's birthday is greeted on between two local dates.
  static std::vector<absl::CivilDay> expected_days(const v1::CustomerProfile& p, absl::CivilDay from,
                                                   absl::CivilDay to) {
    std::vector<absl::CivilDay> out;
    for (int y = static_cast<int>(from.year()) - 1; y <= static_cast<int>(to.year()) + 1; ++y) {
      absl::CivilDay d;
      if (p.has_lunar_birthday()) {
        d = calendar::lunar_birthday_in(
            y, {p.lunar_birthday().month(), p.lunar_birthday().day(), p.lunar_birthday().leap_month()});
      } else {
        d = calendar::solar_birthday_in(y, {p.birthday().month(), p.birthday().day()});
      }
      if (d >= from && d <= to) out.push_back(d);
    }
    return out;
  }

  struct Outage {
    absl::Time from, to;
  };
  // Steps hour by hour from `start` for `days`, skipping the outages and restarting the
  // scheduler and the sender after each.
  void simulate(absl::Time start, int days, const std::vector<Outage>& outages) {
    ManualClock clock(start);
    auto channel = std::make_shared<ClockedChannel>(clock);
    channel_ = channel;
    std::unique_ptr<Scheduler> scheduler;
    std::unique_ptr<Sender> sender;
    for (absl::Time t = start; t < start + absl::Hours(24 * days); t += absl::Hours(1)) {
      clock.set(t);
      bool down = false;
      for (const auto& o : outages) down = down || (t >= o.from && t < o.to);
      if (down) {
        scheduler.reset();
        sender.reset();
        continue;
      }
      if (!scheduler) {
        ++starts_;
        scheduler = std::make_unique<Scheduler>(cfg_, clock, *planner_);
        sender = std::make_unique<Sender>(cfg_, clock, producer_, ChannelMap{{v1::CHANNEL_FILE, channel}}, &registry_);
      }
      scheduler->run_once();
      while (sender->run_once().handled() > 0) {
      }
    }
  }

  std::filesystem::path dir_;
  Config cfg_;
  calendar::HolidayCalendar holidays_;
  std::unique_ptr<Planner> planner_;
  prometheus::Registry registry_;
  tierflow::testing::FakeProducer producer_;
  std::map<std::string, v1::CustomerProfile> profiles_;
  std::shared_ptr<ClockedChannel> channel_;
  int starts_ = 0;
};

TEST_F(StandingTest, FourHundredDaysEveryCustomerOnceAYearOnTheirLocalDate) {
  populate(3000);
  // 2027-02-01 00:00 UTC for 400 days: 28 February 2027 (common) and 29 February 2028 (leap).
  const absl::Time start = absl::FromCivil(absl::CivilSecond(2027, 2, 1, 0, 0, 0), absl::UTCTimeZone());
  const int days = 400;
  std::vector<Outage> outages;
  for (int d = 0; d < days; ++d) {
    const absl::Time day = start + absl::Hours(24 * d);
    if (d % 9 == 4)
      outages.push_back({day + absl::Hours(6), day + absl::Hours(12)});  // London's and Auckland's 09:00 pass
    if (d % 13 == 7) outages.push_back({day, day + absl::Hours(3)});     // Shanghai's 09:00 passes
  }
  simulate(start, days, outages);
  EXPECT_GT(starts_, 60);

  const absl::Time end = start + absl::Hours(24 * days);
  std::map<std::string, std::vector<absl::CivilDay>> got;
  std::set<std::string> keys;
  for (const auto& s : channel_->sent) {
    absl::TimeZone tz;
    ASSERT_TRUE(absl::LoadTimeZone(profiles_.at(s.customer_id).time_zone(), &tz));
    got[s.customer_id].push_back(absl::ToCivilDay(s.at, tz));
    EXPECT_TRUE(keys.insert(s.key).second) << "sent twice: " << s.key;
  }
  size_t expected_total = 0, feb29_common = 0, feb29_leap = 0, lunar = 0;
  for (const auto& [id, p] : profiles_) {
    absl::TimeZone tz;
    absl::LoadTimeZone(p.time_zone(), &tz);
    const absl::CivilDay first = absl::ToCivilDay(start, tz);
    // The last local day whose 09:00 the simulation reached (with an hour to send).
    const absl::CivilSecond last_local = absl::ToCivilSecond(end - absl::Hours(2), tz);
    const absl::CivilDay last = last_local.hour() >= 9 ? absl::CivilDay(last_local) : absl::CivilDay(last_local) - 1;
    const auto want = expected_days(p, first, last);
    expected_total += want.size();
    for (const auto& d : want) {
      if (!p.has_lunar_birthday() && p.birthday().month() == 2 && p.birthday().day() == 29) {
        (d.month() == 2 && d.day() == 28 ? feb29_common : feb29_leap) += 1;
      }
      if (p.has_lunar_birthday()) ++lunar;
    }
    auto have = got[id];
    std::sort(have.begin(), have.end());
    EXPECT_EQ(have, want) << id << " in " << p.time_zone();
  }
  EXPECT_EQ(channel_->sent.size(), expected_total);
  EXPECT_GT(feb29_common, 0u);  // 2027-02-28
  EXPECT_GT(feb29_leap, 0u);    // 2028-02-29
  EXPECT_GT(lunar, 300u);
}

TEST_F(StandingTest, ADayDownEntirelyIsCaughtUpOrReportedNeverSilent) {
  populate(600);
  const absl::Time start = absl::FromCivil(absl::CivilSecond(2027, 3, 1, 0, 0, 0), absl::UTCTimeZone());
  // Down from 2027-03-03 00:00 UTC for 48 hours: every zone loses at least one whole local day.
  const std::vector<Outage> outage{{start + absl::Hours(48), start + absl::Hours(96)}};
  Store store(cfg_.store_path);
  {
    cfg_.standing[0].missed = MissedPolicy::kReport;
    simulate(start, 6, outage);
    const int64_t missed = store.standing_missed("daily-birthday");
    EXPECT_GT(missed, 0);
    // What was reported missed plus what was sent is every birthday of the period.
    size_t expected = 0;
    for (const auto& [id, p] : profiles_) {
      absl::TimeZone tz;
      absl::LoadTimeZone(p.time_zone(), &tz);
      const absl::CivilSecond last_local = absl::ToCivilSecond(start + absl::Hours(24 * 6 - 2), tz);
      const absl::CivilDay last = last_local.hour() >= 9 ? absl::CivilDay(last_local) : absl::CivilDay(last_local) - 1;
      expected += expected_days(p, absl::ToCivilDay(start, tz), last).size();
    }
    EXPECT_EQ(channel_->sent.size() + static_cast<size_t>(missed), expected);
  }
}

TEST_F(StandingTest, CatchUpSendsAMissedDayLateOnce) {
  populate(600);
  const absl::Time start = absl::FromCivil(absl::CivilSecond(2027, 3, 1, 0, 0, 0), absl::UTCTimeZone());
  const std::vector<Outage> outage{{start + absl::Hours(48), start + absl::Hours(96)}};
  simulate(start, 6, outage);
  EXPECT_EQ(Store(cfg_.store_path).standing_missed("daily-birthday"), 0);
  size_t expected = 0;
  for (const auto& [id, p] : profiles_) {
    absl::TimeZone tz;
    absl::LoadTimeZone(p.time_zone(), &tz);
    const absl::CivilSecond last_local = absl::ToCivilSecond(start + absl::Hours(24 * 6 - 2), tz);
    const absl::CivilDay last = last_local.hour() >= 9 ? absl::CivilDay(last_local) : absl::CivilDay(last_local) - 1;
    expected += expected_days(p, absl::ToCivilDay(start, tz), last).size();
  }
  std::set<std::string> keys;
  for (const auto& s : channel_->sent) EXPECT_TRUE(keys.insert(s.key).second);
  EXPECT_EQ(channel_->sent.size(), expected);
}

}  // namespace
}  // namespace tierflow::notification
