#include "history.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <stdexcept>
#include <tuple>

#include "tierflow/v1/events.pb.h"

namespace tierflow::determinism_test {
namespace {

constexpr int64_t kDay = 86400;

// Integer draws from the 64-bit Mersenne twister only (its output is fixed by the
// standard; the std distributions are not), so the history is the same everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  int64_t uniform(int64_t lo, int64_t hi) {  // [lo, hi]
    return lo + static_cast<int64_t>(gen_() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool chance(int percent) { return uniform(0, 99) < percent; }

 private:
  std::mt19937_64 gen_;
};

enum class Kind { whale, regular, occasional, late_payer, churner };

struct Pending {
  int64_t time;
  int customer;
  int seq;
  v1::PosEvent event;
};

class Builder {
 public:
  explicit Builder(const HistoryConfig& cfg) : cfg_(cfg), rng_(cfg.seed), end_(cfg.days * kDay) {}

  History build() {
    for (int i = 1; i <= cfg_.customers; ++i) customer(i);
    std::sort(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
      return std::tie(a.time, a.customer, a.seq) < std::tie(b.time, b.customer, b.seq);
    });
    for (const auto& p : pending_) {
      h_.events.push_back({p.event.customer_id(), p.event.SerializeAsString(), cfg_.start_unix + p.time});
    }
    overrides();
    end_markers();
    std::sort(h_.customers.begin(), h_.customers.end());
    return std::move(h_);
  }

 private:
  static std::string id_of(int i) {
    char id[32];
    std::snprintf(id, sizeof id, "c-%05d", i);
    return id;
  }

  v1::PosEvent header(int i, int64_t t) {
    v1::PosEvent ev;
    ev.set_event_id("e-" + std::to_string(i) + "-" + std::to_string(++seq_[i]));
    ev.set_customer_id(id_of(i));
    ev.set_store_id("s-" + std::to_string(1 + i % 9));
    ev.set_terminal_id("t-1");
    ev.mutable_event_time()->set_seconds(cfg_.start_unix + t);
    // Ingest stamps the wall clock here; a replay must not depend on it.
    ev.mutable_received_time()->set_seconds(cfg_.start_unix + t);
    return ev;
  }

  void emit(int i, int64_t t, v1::PosEvent ev, const std::string& kind) {
    if (t >= end_) return;  // after the history's end: not (yet) happened
    ++h_.counts[kind];
    pending_.push_back({t, i, seq_[i], std::move(ev)});
  }

  static void money(v1::Money* m, int64_t minor) {
    m->set_minor_units(minor);
    m->set_currency("CNY");
  }

  void customer(int i) {
    h_.customers.push_back(id_of(i));
    const int64_t r = rng_.uniform(0, 99);
    const Kind kind = r < 4    ? Kind::whale
                      : r < 50 ? Kind::regular
                      : r < 80 ? Kind::occasional
                      : r < 92 ? Kind::late_payer
                               : Kind::churner;
    // The first 20 buy on day 0, so the overrides at fixed positions find them.
    const int64_t first_day = i <= 20                 ? 0
                              : kind == Kind::churner ? rng_.uniform(0, 20)
                                                      : rng_.uniform(0, cfg_.days * 2 / 3);
    const int64_t last_day =
        kind == Kind::churner ? std::min<int64_t>(cfg_.days - 1, first_day + rng_.uniform(0, 15)) : cfg_.days - 1;
    int sales = 0;
    switch (kind) {
      case Kind::whale:
        sales = static_cast<int>(rng_.uniform(6, 14));
        break;
      case Kind::regular:
        sales = static_cast<int>(rng_.uniform(3, 10));
        break;
      case Kind::occasional:
        sales = static_cast<int>(rng_.uniform(1, 3));
        break;
      case Kind::late_payer:
        sales = static_cast<int>(rng_.uniform(2, 6));
        break;
      case Kind::churner:
        sales = static_cast<int>(rng_.uniform(1, 4));
        break;
    }
    for (int s = 0; s < sales; ++s) {
      const int64_t day = s == 0 ? first_day : rng_.uniform(first_day, last_day);
      sale(i, kind, day * kDay + rng_.uniform(8 * 3600, 20 * 3600));
    }
    if (rng_.chance(30)) {
      v1::PosEvent ev = header(i, 0);
      const int64_t t = rng_.uniform(first_day, cfg_.days - 1) * kDay + rng_.uniform(0, kDay - 1);
      ev.mutable_event_time()->set_seconds(cfg_.start_unix + t);
      ev.mutable_received_time()->set_seconds(cfg_.start_unix + t);
      ev.mutable_feedback()->set_score(static_cast<int32_t>(rng_.uniform(0, 10)));
      emit(i, t, std::move(ev), "feedback");
    }
  }

  void sale(int i, Kind kind, int64_t t) {
    int64_t amount = 0;
    switch (kind) {
      case Kind::whale:
        amount = rng_.uniform(2'000'000, 15'000'000);
        break;
      case Kind::regular:
        amount = rng_.uniform(20'000, 500'000);
        break;
      case Kind::occasional:
        amount = rng_.uniform(5'000, 100'000);
        break;
      case Kind::late_payer:
        amount = rng_.uniform(50'000, 600'000);
        break;
      case Kind::churner:
        amount = rng_.uniform(10'000, 300'000);
        break;
    }
    const bool on_account = kind == Kind::late_payer || rng_.chance(25);
    v1::PosEvent ev = header(i, t);
    const std::string sale_id = ev.event_id();
    v1::Sale* s = ev.mutable_sale();
    auto* line = s->add_lines();
    line->set_sku("k" + std::to_string(rng_.uniform(1, 400)));
    line->set_quantity(1);
    money(line->mutable_unit_price(), amount);
    money(line->mutable_amount(), amount);
    money(s->mutable_total(), amount);
    money(s->mutable_cost(), amount * rng_.uniform(40, 80) / 100);
    auto* tender = s->add_tenders();
    tender->set_method(on_account        ? v1::TENDER_METHOD_ON_ACCOUNT
                       : rng_.chance(50) ? v1::TENDER_METHOD_CASH
                                         : v1::TENDER_METHOD_CARD);
    money(tender->mutable_amount(), amount);
    if (on_account) s->set_payment_terms_days(30);
    emit(i, t, std::move(ev), on_account ? "sale on account" : "sale");

    if (on_account) {
      int64_t after_days = -1;  // never paid
      if (kind == Kind::late_payer) {
        if (!rng_.chance(20)) after_days = rng_.uniform(31, 130);
      } else {
        after_days = rng_.chance(85) ? rng_.uniform(1, 29) : rng_.uniform(31, 70);
      }
      if (after_days >= 0) {
        const int64_t pt = t + after_days * kDay + rng_.uniform(0, 3600);
        v1::PosEvent pay = header(i, pt);
        money(pay.mutable_payment()->mutable_amount(), amount);
        pay.mutable_payment()->set_method(v1::TENDER_METHOD_TRANSFER);
        pay.mutable_payment()->set_invoice_event_id(sale_id);
        emit(i, pt, std::move(pay), after_days > 30 ? "late payment" : "payment");
      }
    }
    const auto method = on_account ? v1::TENDER_METHOD_ON_ACCOUNT : v1::TENDER_METHOD_CASH;
    if (rng_.chance(4)) {
      // Bought and brought back the same day: crosses up and back within one day.
      const int64_t rt = std::min(t + rng_.uniform(600, 3 * 3600), (t / kDay + 1) * kDay - 1);
      v1::PosEvent ref = header(i, rt);
      ref.mutable_refund()->set_original_event_id(sale_id);
      money(ref.mutable_refund()->mutable_amount(), amount);
      ref.mutable_refund()->set_method(method);
      ref.mutable_refund()->set_reason("changed mind");
      emit(i, rt, std::move(ref), "same-day refund");
    } else if (rng_.chance(kind == Kind::whale ? 15 : 6)) {
      const int64_t rt = t + rng_.uniform(1, 25) * kDay + rng_.uniform(0, 3600);
      v1::PosEvent ref = header(i, rt);
      ref.mutable_refund()->set_original_event_id(sale_id);
      money(ref.mutable_refund()->mutable_amount(), amount * rng_.uniform(20, 100) / 100);
      ref.mutable_refund()->set_method(method);
      ref.mutable_refund()->set_reason("defective");
      emit(i, rt, std::move(ref), "refund");
    }
  }

  void overrides() {
    const size_t n = h_.events.size();
    using K = OverrideAction::Kind;
    h_.overrides = {
        {n * 35 / 100, {{K::pin, id_of(1), "diamond"}, {K::floor, id_of(2), "gold"}, {K::pin, id_of(3), "bronze"}}},
        {n * 60 / 100, {{K::clear, id_of(1), ""}, {K::floor, id_of(4), "silver"}}},
        {n * 85 / 100, {{K::clear, id_of(3), ""}, {K::pin, id_of(5), "gold"}}},
    };
    h_.counts["override actions"] = 7;
  }

  // One feedback event per partition, end_marker_days after the last day: every
  // partition's event time then passes the history's end, so its last day closes.
  void end_markers() {
    const int64_t t = cfg_.start_unix + end_ + cfg_.end_marker_days * kDay;
    std::set<int32_t> covered;
    for (int n = 0; static_cast<int>(covered.size()) < cfg_.partitions; ++n) {
      if (n > 1000 * cfg_.partitions) throw std::runtime_error("end markers: a partition is never reached");
      const std::string id = "zz-end-" + std::to_string(n);
      if (!covered.insert(partition_of(id, cfg_.partitions)).second) continue;
      v1::PosEvent ev;
      ev.set_event_id("end-" + std::to_string(n));
      ev.set_customer_id(id);
      ev.set_store_id("s-1");
      ev.set_terminal_id("t-1");
      ev.mutable_event_time()->set_seconds(t);
      ev.mutable_received_time()->set_seconds(t);
      ev.mutable_feedback()->set_score(8);
      h_.events.push_back({id, ev.SerializeAsString(), t});
      h_.customers.push_back(id);
      ++h_.counts["end markers"];
    }
  }

  const HistoryConfig& cfg_;
  Rng rng_;
  const int64_t end_;  // seconds after start_unix
  History h_;
  std::vector<Pending> pending_;
  std::map<int, int> seq_;
};

}  // namespace

int32_t partition_of(const std::string& key, int partitions) {
  return rd_kafka_msg_partitioner_consistent_random(nullptr, key.data(), key.size(), partitions, nullptr, nullptr);
}

History make_history(const HistoryConfig& config) { return Builder(config).build(); }

}  // namespace tierflow::determinism_test
