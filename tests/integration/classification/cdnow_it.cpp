// CDNOW acceptance: the CDNOW master file (23,570 customers, 1997-01 .. 1998-06) replayed as
// account snapshots through the devbroker into the classification service, classified as of
// the end of the data (watermark clock). The A class's share of value that GetDistribution
// reports must equal the share computed here, independently, from the raw file:
//   value    = the standard's: gross profit (= sales, CDNOW has no cost) over the 12 calendar
//              months ending in the month of 1998-06-30, i.e. 1997-07 .. 1998-06
//   A        = Population's rule: the ceil(20% * n)-th best value over every customer with
//              an account is the threshold; A = value >= threshold and value > 0 (ties in)
//   share    = sum of A's values / sum of every customer's value (clamped at 0)
//   reach80  = the fewest customers, best first by value, whose values (clamped at 0) add
//              up to at least 80% of everyone's: the first question of the 80/20 analysis,
//              against GetDistribution's `reach` for value share 0.8
// The standard is deploy/local/standard.yaml with its currency set to USD (CDNOW's).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "absl/time/civil_time.h"
#include "common/kafka/topics.h"
#include "common/time/time.h"
#include "tests/integration/classification/harness.h"

namespace tierflow::classification::it {
namespace {

struct Purchase {
  absl::CivilDay day;
  int64_t cents;
};

// "11.77" -> 1177, exactly.
int64_t parse_cents(const std::string& s) {
  const auto dot = s.find('.');
  int64_t whole = std::stoll(s.substr(0, dot));
  int64_t frac = 0;
  if (dot != std::string::npos) {
    std::string f = s.substr(dot + 1);
    f.resize(2, '0');
    frac = std::stoll(f.substr(0, 2));
  }
  return whole * 100 + frac;
}

std::map<std::string, std::vector<Purchase>> read_cdnow(const std::string& path) {
  std::ifstream in(path);
  std::map<std::string, std::vector<Purchase>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, date, cds, dollars;
    if (!(fields >> id >> date >> cds >> dollars) || date.size() != 8 || !std::isdigit(date[0])) continue;
    const absl::CivilDay d(std::stoi(date.substr(0, 4)), std::stoi(date.substr(4, 2)), std::stoi(date.substr(6, 2)));
    out[id].push_back({d, parse_cents(dollars)});
  }
  return out;
}

v1::AccountSnapshot to_snapshot(const std::string& id, const std::vector<Purchase>& purchases) {
  std::map<absl::CivilMonth, std::pair<int64_t, int64_t>> months;  // cents, orders
  absl::CivilDay first = purchases.front().day, last = purchases.front().day;
  v1::AccountSnapshot a;
  a.set_customer_id(id);
  a.set_version(1);
  a.set_currency("USD");
  for (const auto& p : purchases) {
    auto& m = months[absl::CivilMonth(p.day)];
    m.first += p.cents;
    m.second += 1;
    first = std::min(first, p.day);
    last = std::max(last, p.day);
    a.set_lifetime_sales_minor(a.lifetime_sales_minor() + p.cents);
    a.set_lifetime_gross_profit_minor(a.lifetime_gross_profit_minor() + p.cents);
    a.set_lifetime_orders(a.lifetime_orders() + 1);
  }
  for (const auto& [month, m] : months) {
    auto* b = a.add_months();
    b->set_year(static_cast<int32_t>(month.year()));
    b->set_month(month.month());
    b->set_sales_minor(m.first);
    b->set_gross_profit_minor(m.first);
    b->set_orders(m.second);
  }
  const auto& utc = absl::UTCTimeZone();
  timeutil::to_proto(absl::FromCivil(first, utc), a.mutable_first_purchase());
  timeutil::to_proto(absl::FromCivil(last, utc), a.mutable_last_purchase());
  timeutil::to_proto(absl::FromCivil(last, utc), a.mutable_as_of());
  return a;
}

TEST(CdnowAcceptance, ValueShareOfClassAMatchesTheRawFile) {
  const std::string data = std::string(TIERFLOW_DATASETS_DIR) + "/CDNOW_master.txt";
  if (!std::filesystem::exists(data)) GTEST_SKIP() << data << " is absent";
  const auto customers = read_cdnow(data);
  ASSERT_GT(customers.size(), 20000u);

  // --- The expectation, from the raw file alone. ---
  const absl::CivilMonth end_month(1998, 6);
  std::vector<int64_t> values;
  values.reserve(customers.size());
  for (const auto& [id, purchases] : customers) {
    int64_t v = 0;
    for (const auto& p : purchases) {
      const absl::CivilMonth m(p.day);
      if (m <= end_month && m > end_month - 12) v += p.cents;
    }
    values.push_back(v);
  }
  std::vector<int64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const size_t n = sorted.size();
  const size_t rank = (n * 2000 + 9999) / 10000;  // ceil(20% of n)
  const int64_t threshold = sorted[rank - 1];
  int64_t total = 0, a_value = 0, a_customers = 0;
  for (int64_t v : values) {
    total += std::max<int64_t>(v, 0);
    if (v > 0 && v >= threshold) {
      a_value += v;
      ++a_customers;
    }
  }
  ASSERT_GT(total, 0);
  // In integers: the first k with 10 x (sum of the k best) >= 8 x total.
  int64_t reach80 = 0;
  for (int64_t cum = 0; reach80 < static_cast<int64_t>(n) && cum * 10 < total * 8; ++reach80) {
    cum += std::max<int64_t>(sorted[static_cast<size_t>(reach80)], 0);
  }
  const double expected_share = static_cast<double>(a_value) / static_cast<double>(total);

  // --- The service, fed through Kafka. ---
  test_support::TempDir dir("tf-cls-cdnow");
  std::filesystem::create_directories(dir.file("redis"));
  std::filesystem::create_directories(dir.file("broker"));
  test_support::RedisServer redis(dir.file("redis"));
  test_support::DevBroker broker({TIERFLOW_DEVBROKER, dir.file("broker"), 12, 1});
  Config cfg = base_config(broker, redis, dir.path().string());
  {
    std::ifstream in(cfg.standard_path);
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    const auto at = yaml.find("\ncurrency: CNY");
    ASSERT_NE(at, std::string::npos);
    yaml.replace(at, 14, "\ncurrency: USD");
    cfg.standard_path = dir.file("standard.yaml");
    std::ofstream(cfg.standard_path) << yaml;
  }
  cfg.reevaluate_interval = std::chrono::seconds(30);
  cfg.evaluate_delay = std::chrono::seconds(2);

  Instance svc(cfg);
  {
    kafka::RdkafkaProducer input(broker.bootstrap(), "cdnow-replay");
    std::atomic<int> failed{0};
    for (const auto& [id, purchases] : customers) {
      input.produce(topics::kAccounts, id, to_snapshot(id, purchases).SerializeAsString(),
                    {{std::string(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot"}},
                    [&failed](const kafka::DeliveryReport& r) {
                      if (!r.ok) ++failed;
                    });
    }
    ASSERT_TRUE(input.flush(std::chrono::seconds(60)));
    ASSERT_EQ(failed.load(), 0);
  }
  const double records = static_cast<double>(customers.size());
  ASSERT_TRUE(eventually([&] { return svc.metric("tierflow_classification_records_total") >= records; },
                         std::chrono::seconds(180)))
      << svc.failure();

  // Every customer classified as of the end of the data.
  v1::Distribution dist;
  ASSERT_TRUE(eventually(
      [&] {
        auto ctx = call_ctx();
        if (!svc.stub().GetDistribution(ctx.get(), v1::GetDistributionRequest(), &dist).ok()) return false;
        return dist.customers() == static_cast<int64_t>(n) &&
               svc.keeper().now() == absl::FromCivil(absl::CivilDay(1998, 6, 30), absl::UTCTimeZone());
      },
      std::chrono::seconds(120)))
      << "customers " << dist.customers() << " of " << n << "; " << svc.failure();
  // Cut points are frozen between evaluation points: the figures of the raw file are those
  // of an evaluation point at the end of the data, so take one (as the schedule would).
  svc.keeper().reevaluate();
  {
    auto ctx = call_ctx();
    ASSERT_TRUE(svc.stub().GetDistribution(ctx.get(), v1::GetDistributionRequest(), &dist).ok());
  }

  const v1::ClassCount* a_class = nullptr;
  for (const auto& c : dist.classes()) {
    if (c.dimension() == "value" && c.class_name() == "A") a_class = &c;
  }
  ASSERT_NE(a_class, nullptr);
  EXPECT_EQ(dist.total_value_minor(), total);
  EXPECT_EQ(a_class->customers(), a_customers);
  EXPECT_EQ(a_class->value_minor(), a_value);
  EXPECT_NEAR(a_class->value_share(), expected_share, 1e-12);
  const v1::ValueReach* reach = nullptr;
  for (const auto& r : dist.reach()) {
    if (r.value_share() == 0.8) reach = &r;
  }
  ASSERT_NE(reach, nullptr) << "GetDistribution's default reach shares hold no 0.8";
  EXPECT_EQ(reach->customers(), reach80);
  EXPECT_DOUBLE_EQ(reach->customer_share(), static_cast<double>(reach80) / static_cast<double>(n));
  std::printf(
      "CDNOW: %zu customers, A = %lld customers (threshold %.2f USD) with %.2f%% of 12-month value; "
      "80%% of the value from %lld customers\n",
      n, static_cast<long long>(a_customers), static_cast<double>(threshold) / 100, 100 * expected_share,
      static_cast<long long>(reach80));
  EXPECT_TRUE(svc.failure().empty()) << svc.failure();
}

}  // namespace
}  // namespace tierflow::classification::it
