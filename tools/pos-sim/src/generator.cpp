#include "generator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

#include "absl/time/time.h"
#include "fmt/format.h"

namespace tierflow::pos_sim {
namespace {

using tierflow::v1::PosEvent;
using tierflow::v1::TenderMethod;

constexpr int kSkus = 300;
constexpr double kSalesPerDay = 2.0 / 30.0;  // an average customer buys twice a month
constexpr int kPaymentTermsDays = 30;

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  Rng r(a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL));
  r.next();
  return r.next();
}

// Catalogue prices are a fixed function of the SKU number, the same for every seed.
std::int64_t sku_price(int sku) {
  return 500 + static_cast<std::int64_t>((static_cast<std::uint64_t>(sku) * 2654435761ULL) % 99500);
}
std::int64_t sku_unit_cost(int sku) { return sku_price(sku) * (50 + sku % 36) / 100; }

void set_money(tierflow::v1::Money* m, std::int64_t minor, const std::string& currency) {
  m->set_minor_units(minor);
  m->set_currency(currency);
}

void set_time(google::protobuf::Timestamp* t, std::int64_t seconds) {
  t->set_seconds(seconds);
  t->set_nanos(0);
}

std::int64_t day_seconds(absl::CivilDay day) {
  return absl::ToUnixSeconds(absl::FromCivil(day, absl::UTCTimeZone()));
}

constexpr std::array<std::string_view, 20> kZhSurnames = {
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
    "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "高", "罗"};
constexpr std::array<std::string_view, 16> kZhGiven = {
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞"};
constexpr std::array<std::string_view, 12> kEnFirst = {
    "Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Drew", "Robin"};
constexpr std::array<std::string_view, 12> kEnLast = {
    "Smith", "Lee", "Brown", "Wong", "Chan", "Miller", "Davis", "Garcia", "Wilson", "Clark", "Young", "King"};
constexpr std::array<std::string_view, 8> kCompanySuffix = {
    "Trading", "Foods", "Industrial", "Services", "Supply", "Retail", "Holdings", "Logistics"};
constexpr std::array<std::string_view, 7> kIndustries = {
    "retail", "manufacturing", "services", "wholesale", "hospitality", "construction", "healthcare"};
constexpr std::array<std::string_view, 5> kOtherZones = {
    "Asia/Hong_Kong", "Asia/Singapore", "Asia/Tokyo", "Europe/London", "America/Los_Angeles"};
constexpr std::array<std::string_view, 4> kRefundReasons = {
    "damaged", "wrong item", "changed mind", "quality complaint"};

template <std::size_t N>
std::string_view pick(Rng& rng, const std::array<std::string_view, N>& a) {
  return a[static_cast<std::size_t>(rng.uniform(0, static_cast<std::int64_t>(N) - 1))];
}

std::string_view region_for(Rng& rng) {
  const double u = rng.unit();
  if (u < 0.30) return "CN-31";  // Shanghai
  if (u < 0.55) return "CN-44";  // Guangdong
  if (u < 0.75) return "CN-11";  // Beijing
  if (u < 0.85) return "CN-51";  // Sichuan
  if (u < 0.92) return "CN-32";  // Jiangsu
  if (u < 0.97) return "CN-33";  // Zhejiang
  return "CN-50";                // Chongqing
}

}  // namespace

std::uint64_t Rng::next() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::int64_t Rng::uniform(std::int64_t lo, std::int64_t hi) {
  const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
  if (span == 0) return static_cast<std::int64_t>(next());  // the full 64-bit range
  return lo + static_cast<std::int64_t>(next() % span);
}

double Rng::unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

std::string customer_id(int index) { return fmt::format("c-{:06d}", index); }

CustomerTraits customer_traits(std::uint64_t seed, int index) {
  Rng rng(mix(seed, static_cast<std::uint64_t>(index) * 2 + 1));
  CustomerTraits t;
  // Pareto(alpha 1.5, x_m 1/3): mean 1, the top fifth of customers hold most of the volume.
  const double u = rng.unit();
  t.weight = std::min(60.0, (1.0 / 3.0) / std::pow(1.0 - u, 1.0 / 1.5));
  if (rng.chance(0.05)) t.weight = 0.0;  // prospects: profile, never a purchase
  t.on_account = rng.chance(0.3);
  const double p = rng.unit();
  t.payer = p < 0.8 ? 0 : (p < 0.95 ? 1 : 2);
  t.satisfaction = static_cast<int>(rng.uniform(3, 10));
  t.store = static_cast<int>(rng.uniform(1, 20));
  return t;
}

tierflow::v1::CustomerProfile generate_profile(const GeneratorConfig& config, int index) {
  Rng rng(mix(config.seed, static_cast<std::uint64_t>(index) * 2));
  const CustomerTraits traits = customer_traits(config.seed, index);
  tierflow::v1::CustomerProfile p;
  p.set_customer_id(customer_id(index));

  const bool shanghai_zone = rng.chance(0.8);
  p.set_time_zone(shanghai_zone ? "Asia/Shanghai" : std::string(pick(rng, kOtherZones)));
  const bool zh = shanghai_zone ? rng.chance(0.9) : rng.chance(0.3);
  p.set_language(zh ? "zh-CN" : "en");
  if (traits.on_account) {
    p.set_name(fmt::format("{} {} {}", zh ? pick(rng, kZhSurnames) : pick(rng, kEnLast),
                           pick(rng, kCompanySuffix), index));
  } else if (zh) {
    p.set_name(fmt::format("{}{}", pick(rng, kZhSurnames), pick(rng, kZhGiven)));
  } else {
    p.set_name(fmt::format("{} {}", pick(rng, kEnFirst), pick(rng, kEnLast)));
  }
  p.set_email(fmt::format("customer{:06d}@example.com", index));
  p.set_phone(fmt::format("+1-555-{:07d}", index % 10000000));

  auto* bd = p.mutable_birthday();
  bd->set_year(static_cast<int>(rng.uniform(1950, 2002)));
  bd->set_month(static_cast<int>(rng.uniform(1, 12)));
  bd->set_day(static_cast<int>(rng.uniform(1, 28)));
  if (zh && rng.chance(0.3)) {
    auto* lunar = p.mutable_lunar_birthday();
    lunar->set_month(static_cast<int>(rng.uniform(1, 12)));
    lunar->set_day(static_cast<int>(rng.uniform(1, 29)));
    lunar->set_leap_month(rng.chance(0.02));
  }

  for (auto ch : {tierflow::v1::CHANNEL_EMAIL, tierflow::v1::CHANNEL_SMS}) {
    auto* c = p.add_consents();
    c->set_channel(ch);
    c->set_marketing(rng.chance(0.7));
    c->set_transactional(rng.chance(0.95));
  }

  // Company size follows the customer's purchase weight, loosely.
  auto* size = p.mutable_company_size();
  const auto employees = static_cast<std::int64_t>(
      std::max(1.0, traits.weight * 40.0 * (0.5 + rng.unit())) + (traits.on_account ? 20 : 0));
  size->set_employees(static_cast<std::int32_t>(std::min<std::int64_t>(employees, 200000)));
  // ~300k-700k CNY of revenue per employee, in fen.
  set_money(size->mutable_annual_revenue(), employees * rng.uniform(300000, 700000) * 100,
            config.currency);
  p.set_industry(std::string(pick(rng, kIndustries)));
  p.set_region(std::string(region_for(rng)));

  // Contract start: up to six years before the simulation starts.
  const absl::CivilDay contract = config.start - rng.uniform(0, 6 * 365);
  auto* cs = p.mutable_contract_start();
  cs->set_year(static_cast<int>(contract.year()));
  cs->set_month(contract.month());
  cs->set_day(contract.day());
  set_time(p.mutable_updated_time(), day_seconds(config.start));
  return p;
}

EventGenerator::EventGenerator(GeneratorConfig config)
    : config_(std::move(config)), rng_(mix(config_.seed, 0xE7E47ULL)) {
  traits_.reserve(static_cast<std::size_t>(std::max(0, config_.customers)));
  for (int i = 1; i <= config_.customers; ++i) traits_.push_back(customer_traits(config_.seed, i));
  const absl::CivilMonth end_month = absl::CivilMonth(config_.start) + config_.months;
  const absl::CivilDay end(end_month.year(), end_month.month(), config_.start.day());
  total_days_ = static_cast<int>(std::max<absl::civil_diff_t>(0, end - config_.start));
  start_seconds_ = day_seconds(config_.start);
}

double EventGenerator::progress() const {
  if (total_days_ == 0) return 1.0;
  return std::min(1.0, static_cast<double>(day_index_) / total_days_);
}

std::string EventGenerator::event_id(std::uint64_t n) const {
  return fmt::format("e-{}-{}", config_.seed, n);
}

void EventGenerator::schedule(Pending p) {
  const auto day = static_cast<int>((p.seconds - start_seconds_) / 86400);
  if (day >= total_days_) return;  // after the simulated span: not (yet) happened
  by_day_[day].push_back(p);
}

void EventGenerator::decide_sale(int customer, std::int64_t seconds, PosEvent* sale_event) {
  const CustomerTraits& t = traits_[static_cast<std::size_t>(customer - 1)];
  const std::string& cur = config_.currency;
  auto* sale = sale_event->mutable_sale();
  std::int64_t total = 0;
  std::int64_t cost = 0;
  const int lines = static_cast<int>(rng_.uniform(1, 4));
  const auto max_qty = 1 + static_cast<std::int64_t>(std::min(20.0, t.weight * 2.0));
  for (int i = 0; i < lines; ++i) {
    const int sku = static_cast<int>(rng_.uniform(1, kSkus));
    const std::int64_t qty = rng_.uniform(1, max_qty);
    const std::int64_t price = sku_price(sku);
    std::int64_t amount = qty * price;
    if (rng_.chance(0.1)) amount = amount * 95 / 100;  // 5% line discount
    const std::int64_t line_cost = qty * sku_unit_cost(sku);
    auto* line = sale->add_lines();
    line->set_sku(fmt::format("SKU-{:05d}", sku));
    line->set_quantity(qty);
    set_money(line->mutable_unit_price(), price, cur);
    set_money(line->mutable_amount(), amount, cur);
    set_money(line->mutable_cost(), line_cost, cur);
    total += amount;
    cost += line_cost;
  }
  set_money(sale->mutable_total(), total, cur);
  set_money(sale->mutable_cost(), cost, cur);

  auto add_tender = [&](TenderMethod m, std::int64_t amount) {
    auto* tender = sale->add_tenders();
    tender->set_method(m);
    set_money(tender->mutable_amount(), amount, cur);
  };
  std::int64_t on_account = 0;
  TenderMethod first = tierflow::v1::TENDER_METHOD_CASH;
  if (t.on_account && rng_.chance(0.7)) {
    if (total >= 2 && rng_.chance(0.2)) {  // deposit by card, rest on account
      const std::int64_t deposit = total * rng_.uniform(10, 50) / 100;
      add_tender(tierflow::v1::TENDER_METHOD_CARD, deposit);
      on_account = total - deposit;
    } else {
      on_account = total;
    }
    add_tender(tierflow::v1::TENDER_METHOD_ON_ACCOUNT, on_account);
    sale->set_payment_terms_days(kPaymentTermsDays);
    first = tierflow::v1::TENDER_METHOD_ON_ACCOUNT;
  } else {
    const double u = rng_.unit();
    if (u < 0.3 || total < 2) {
      add_tender(tierflow::v1::TENDER_METHOD_CASH, total);
    } else if (u < 0.85) {
      add_tender(tierflow::v1::TENDER_METHOD_CARD, total);
      first = tierflow::v1::TENDER_METHOD_CARD;
    } else {
      const std::int64_t cash = rng_.uniform(1, total - 1);
      add_tender(tierflow::v1::TENDER_METHOD_CASH, cash);
      add_tender(tierflow::v1::TENDER_METHOD_CARD, total - cash);
    }
  }

  const std::uint64_t sale_n = next_n_ - 1;  // assigned by the caller just before
  auto follow_up = [&](Kind kind, std::int64_t days_later) {
    Pending p;
    p.kind = kind;
    p.customer = customer;
    p.ref = sale_n;
    const std::int64_t day_start = (seconds / 86400 + days_later) * 86400;
    p.seconds = day_start + 3600 + rng_.uniform(0, 12 * 3600 - 1);
    return p;
  };

  if (on_account > 0) {
    std::int64_t delay = 0;
    bool pays = true;
    if (t.payer == 0) {
      delay = rng_.chance(0.9) ? rng_.uniform(3, kPaymentTermsDays) : rng_.uniform(31, 60);
    } else if (t.payer == 1) {
      delay = rng_.uniform(31, 90);
    } else {
      pays = rng_.chance(0.2);
      delay = rng_.uniform(91, 180);
    }
    if (pays) {
      const bool split = on_account >= 2 && rng_.chance(0.15);
      const std::int64_t first_part = split ? on_account / 2 : on_account;
      Pending p = follow_up(Kind::kPayment, delay);
      p.amount = first_part;
      p.method = tierflow::v1::TENDER_METHOD_TRANSFER;
      p.n = next_n_++;
      schedule(p);
      if (split) {
        Pending q = follow_up(Kind::kPayment, delay + rng_.uniform(10, 30));
        q.amount = on_account - first_part;
        q.method = tierflow::v1::TENDER_METHOD_TRANSFER;
        q.n = next_n_++;
        schedule(q);
      }
    }
  }
  if (total > 0 && rng_.chance(0.04)) {
    Pending p = follow_up(Kind::kRefund, rng_.uniform(1, 20));
    p.amount = std::max<std::int64_t>(1, total * rng_.uniform(10, 100) / 100);
    p.method = first;
    p.reason = static_cast<int>(rng_.uniform(0, kRefundReasons.size() - 1));
    p.n = next_n_++;
    schedule(p);
  }
  if (rng_.chance(0.003)) {
    Pending p = follow_up(Kind::kReturnNoReceipt, rng_.uniform(1, 60));
    p.ref = 0;
    p.amount = rng_.uniform(100, 5000);
    p.method = tierflow::v1::TENDER_METHOD_CASH;
    p.reason = static_cast<int>(rng_.uniform(0, kRefundReasons.size() - 1));
    p.n = next_n_++;
    schedule(p);
  }
  if (rng_.chance(0.06)) {
    Pending p = follow_up(Kind::kFeedback, rng_.uniform(0, 2));
    if (p.seconds <= seconds) p.seconds = seconds + rng_.uniform(600, 3600);
    p.score = static_cast<int>(std::clamp<std::int64_t>(t.satisfaction + rng_.uniform(-2, 2), 0, 10));
    p.n = next_n_++;
    schedule(p);
  }
}

void EventGenerator::generate_day() {
  const std::int64_t day_start = start_seconds_ + static_cast<std::int64_t>(day_index_) * 86400;
  for (int c = 1; c <= config_.customers; ++c) {
    const double lambda = traits_[static_cast<std::size_t>(c - 1)].weight * kSalesPerDay;
    if (lambda <= 0.0) continue;
    auto count = static_cast<int>(lambda);
    if (rng_.unit() < lambda - count) ++count;
    for (int k = 0; k < count; ++k) {
      Pending p;
      p.kind = Kind::kSale;
      p.customer = c;
      // Till hours 09:00-21:00 in China are 01:00-13:00 UTC.
      p.seconds = day_start + 3600 + rng_.uniform(0, 12 * 3600 - 1);
      p.n = next_n_++;
      PosEvent& sale = sales_today_[p.n];
      decide_sale(c, p.seconds, &sale);
      by_day_[day_index_].push_back(p);
    }
  }
  today_.clear();
  today_pos_ = 0;
  if (auto it = by_day_.find(day_index_); it != by_day_.end()) {
    today_ = std::move(it->second);
    by_day_.erase(it);
  }
  std::sort(today_.begin(), today_.end(), [](const Pending& a, const Pending& b) {
    return a.seconds != b.seconds ? a.seconds < b.seconds : a.n < b.n;
  });
  ++day_index_;
}

void EventGenerator::materialize(const Pending& p, PosEvent* out) {
  const CustomerTraits& t = traits_[static_cast<std::size_t>(p.customer - 1)];
  const std::string& cur = config_.currency;
  if (p.kind == Kind::kSale) {
    auto it = sales_today_.find(p.n);
    *out = std::move(it->second);
    sales_today_.erase(it);
  } else {
    out->Clear();
  }
  out->set_event_id(event_id(p.n));
  out->set_customer_id(customer_id(p.customer));
  out->set_store_id(fmt::format("s-{:02d}", t.store));
  out->set_terminal_id(fmt::format("s-{:02d}-t{}", t.store, 1 + p.n % 3));
  set_time(out->mutable_event_time(), p.seconds);
  switch (p.kind) {
    case Kind::kSale:
      break;
    case Kind::kPayment: {
      auto* pay = out->mutable_payment();
      set_money(pay->mutable_amount(), p.amount, cur);
      pay->set_method(static_cast<TenderMethod>(p.method));
      pay->set_invoice_event_id(event_id(p.ref));
      break;
    }
    case Kind::kRefund:
    case Kind::kReturnNoReceipt: {
      auto* refund = out->mutable_refund();
      if (p.kind == Kind::kRefund) refund->set_original_event_id(event_id(p.ref));
      set_money(refund->mutable_amount(), p.amount, cur);
      refund->set_method(static_cast<TenderMethod>(p.method));
      refund->set_reason(std::string(kRefundReasons[static_cast<std::size_t>(p.reason)]));
      break;
    }
    case Kind::kFeedback:
      out->mutable_feedback()->set_score(p.score);
      break;
  }
}

bool EventGenerator::next(PosEvent* out) {
  while (today_pos_ >= today_.size()) {
    if (day_index_ >= total_days_) return false;
    generate_day();
  }
  materialize(today_[today_pos_++], out);
  return true;
}

}  // namespace tierflow::pos_sim
