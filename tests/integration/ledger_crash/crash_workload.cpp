#include "crash_workload.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "tierflow/v1/events.pb.h"

namespace tierflow::ledger_test {
namespace {

// splitmix64: portable, so the workload is the same on every toolchain.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  int64_t uniform(int64_t lo, int64_t hi) {  // [lo, hi]
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool chance(double p) { return unit() < p; }

 private:
  uint64_t state_;
};

constexpr int64_t kStart = 1'704'067'200;  // 2024-01-01T00:00:00Z
constexpr int kTermsDays = 30;

struct Invoice {
  std::string sale_id;
  int64_t open = 0;
};

struct SaleRef {
  std::string id;
  int64_t amount = 0, refunded = 0;
};

// The oracle's running state of one customer.
struct Customer {
  ExpectedAccount acc;
  bool exists = false;
  std::vector<Invoice> invoices;  // order of issue = oldest first
  std::vector<SaleRef> sales;
};

// Allocates `amount` to open invoices: the named one first, then (unless only_named) the
// others oldest first. Returns the amount allocated and lowers the invoices' open amounts.
int64_t allocate(Customer& c, int64_t amount, const std::string& named, bool only_named) {
  int64_t allocated = 0;
  auto take = [&](Invoice& inv) {
    const int64_t t = std::min(amount - allocated, inv.open);
    inv.open -= t;
    allocated += t;
  };
  if (!named.empty()) {
    for (auto& inv : c.invoices) {
      if (inv.sale_id == named && inv.open > 0) take(inv);
    }
  }
  if (!only_named) {
    for (auto& inv : c.invoices) {
      if (allocated == amount) break;
      if (inv.open > 0) take(inv);
    }
  }
  return allocated;
}

void set_money(v1::Money* m, int64_t units, const std::string& currency) {
  m->set_minor_units(units);
  if (!currency.empty()) m->set_currency(currency);
}

class Builder {
 public:
  explicit Builder(const WorkloadConfig& cfg) : cfg_(cfg), rng_(cfg.seed) {
    customers_.resize(static_cast<size_t>(cfg.customers) + 1);
    for (int i = 1; i <= cfg.customers; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "c-%05d", i);
      customers_[i].acc.customer_id = id;
      customers_[i].acc.currency = i % 10 == 7 ? "EUR" : "USD";
    }
  }

  Workload build() {
    while (static_cast<int64_t>(w_.records.size()) < cfg_.records) step();
    for (auto& c : customers_) {
      if (!c.exists) continue;
      if (c.acc.orders == 0 && c.acc.refunds == 0 && c.acc.payments == 0) c.acc.currency.clear();
      w_.accounts.emplace(c.acc.customer_id, c.acc);
    }
    return std::move(w_);
  }

 private:
  void step() {
    const double r = rng_.unit();
    if (r < cfg_.duplicate_rate && !valid_.empty()) {
      const StreamRecord& orig = w_.records[valid_[rng_.uniform(0, static_cast<int64_t>(valid_.size()) - 1)]];
      w_.records.push_back({orig.key, orig.value, StreamRecord::Kind::duplicate});
      ++w_.counts["duplicates"];
      return;
    }
    if (r < cfg_.duplicate_rate + cfg_.invalid_rate) {
      invalid();
      return;
    }
    // Mild skew: low ids buy more (customer 1 gets about 1/sqrt(customers) of the events).
    const double u = rng_.unit();
    const int idx = 1 + std::min(cfg_.customers - 1, static_cast<int>(u * u * cfg_.customers));
    Customer& c = customers_[idx];
    const bool has_money = !c.sales.empty() || c.acc.refunds > 0;
    const double k = rng_.unit();
    if (!has_money) {
      if (k < 0.90) {
        sale(c);
      } else if (k < 0.95) {
        return_without_receipt(c);
      } else {
        feedback(c);
      }
      return;
    }
    if (k < 0.50) {
      sale(c);
    } else if (k < 0.72) {
      payment(c);
    } else if (k < 0.84) {
      refund_of_sale(c);
    } else if (k < 0.88) {
      return_without_receipt(c);
    } else if (k < 0.92) {
      feedback(c);
    } else if (k < 0.93 && static_cast<int64_t>(w_.records.size()) + 2 <= cfg_.records) {
      sale_with_early_refund(c);  // two records: only while both fit
    } else {
      sale(c);
    }
  }

  int64_t tick() { return now_ += rng_.uniform(1, 60); }
  std::string next_id() { return "e-" + std::to_string(++n_); }

  v1::PosEvent header(const Customer& c, const std::string& id, int64_t t) {
    v1::PosEvent ev;
    ev.set_event_id(id);
    ev.set_customer_id(c.acc.customer_id);
    ev.set_store_id("s-" + std::to_string(1 + (n_ % 7)));
    ev.set_terminal_id("t-1");
    ev.mutable_event_time()->set_seconds(t);
    ev.mutable_received_time()->set_seconds(cfg_.received_unix_seconds);
    return ev;
  }

  void emit(const std::string& key, const v1::PosEvent& ev) {
    valid_.push_back(w_.records.size());
    w_.records.push_back({key, ev.SerializeAsString(), StreamRecord::Kind::valid});
  }

  void posted(Customer& c, const std::string& id) {
    c.acc.posted.push_back(id);
    c.exists = true;
  }

  // Builds a sale of customer c at time t, applies it to the oracle, returns the event.
  v1::PosEvent make_sale(Customer& c, int64_t t) {
    const std::string& cur = c.acc.currency;
    const std::string id = next_id();
    v1::PosEvent ev = header(c, id, t);
    v1::Sale* s = ev.mutable_sale();
    const int lines = rng_.chance(0.003) ? 40 : static_cast<int>(rng_.uniform(1, 3));
    const bool zero_sale = rng_.chance(0.005);
    int64_t total = 0;
    for (int i = 0; i < lines; ++i) {
      v1::SaleLine* line = s->add_lines();
      line->set_sku("k" + std::to_string(rng_.uniform(1, 999)));
      const bool free_line = zero_sale || rng_.chance(0.05);
      const int64_t qty = free_line ? rng_.uniform(0, 1) : rng_.uniform(1, 4);
      const int64_t unit = free_line ? 0 : rng_.uniform(50, 9000);
      line->set_quantity(qty);
      set_money(line->mutable_unit_price(), unit, "");
      set_money(line->mutable_amount(), qty * unit, "");
      total += qty * unit;
    }
    set_money(s->mutable_total(), total, cur);
    int64_t on_account = 0;
    const double m = rng_.unit();
    if (total == 0 || m < 0.15) {
      // no tenders: all cash
    } else if (m < 0.30) {
      auto* t1 = s->add_tenders();
      t1->set_method(v1::TENDER_METHOD_CASH);
      set_money(t1->mutable_amount(), total, "");
    } else if (m < 0.60) {
      auto* t1 = s->add_tenders();
      t1->set_method(v1::TENDER_METHOD_CARD);
      set_money(t1->mutable_amount(), total, "");
    } else if (m < 0.85) {
      auto* t1 = s->add_tenders();
      t1->set_method(v1::TENDER_METHOD_ON_ACCOUNT);
      set_money(t1->mutable_amount(), total, "");
      on_account = total;
    } else {
      const int64_t card = rng_.uniform(0, total);
      auto* t1 = s->add_tenders();
      t1->set_method(v1::TENDER_METHOD_CARD);
      set_money(t1->mutable_amount(), card, "");
      auto* t2 = s->add_tenders();
      t2->set_method(v1::TENDER_METHOD_ON_ACCOUNT);
      set_money(t2->mutable_amount(), total - card, "");
      on_account = total - card;
    }
    if (on_account > 0) s->set_payment_terms_days(kTermsDays);

    c.acc.sales += total;
    c.acc.orders += 1;
    c.acc.receivable += on_account;
    if (on_account > 0) c.invoices.push_back({id, on_account});
    c.sales.push_back({id, total, 0});
    if (c.acc.first_purchase < 0) c.acc.first_purchase = t;
    c.acc.last_purchase = t;
    posted(c, id);
    ++w_.counts["sales"];
    return ev;
  }

  void sale(Customer& c) { emit(c.acc.customer_id, make_sale(c, tick())); }

  // Refund of `sale` (amount <= what remains); applied to the oracle. Returns the event.
  v1::PosEvent make_refund(Customer& c, SaleRef& sale, int64_t t) {
    const int64_t remaining = sale.amount - sale.refunded;
    const int64_t amount = rng_.chance(0.3) ? remaining : rng_.uniform(1, remaining);
    const double m = rng_.unit();
    const v1::TenderMethod method =
        m < 0.4 ? v1::TENDER_METHOD_CASH : (m < 0.7 ? v1::TENDER_METHOD_CARD : v1::TENDER_METHOD_ON_ACCOUNT);
    const std::string id = next_id();
    v1::PosEvent ev = header(c, id, t);
    v1::Refund* r = ev.mutable_refund();
    r->set_original_event_id(sale.id);
    set_money(r->mutable_amount(), amount, c.acc.currency);
    r->set_method(method);
    r->set_reason("changed mind");
    sale.refunded += amount;
    c.acc.refunds += amount;
    if (method == v1::TENDER_METHOD_ON_ACCOUNT) {
      const int64_t allocated = allocate(c, amount, sale.id, /*only_named=*/false);
      c.acc.receivable -= allocated;
      c.acc.credit += amount - allocated;
    }
    posted(c, id);
    ++w_.counts["refunds of a sale"];
    return ev;
  }

  void refund_of_sale(Customer& c) {
    std::vector<size_t> open;
    for (size_t i = 0; i < c.sales.size(); ++i) {
      if (c.sales[i].amount > c.sales[i].refunded) open.push_back(i);
    }
    if (open.empty()) {
      sale(c);
      return;
    }
    SaleRef& s = c.sales[open[rng_.uniform(0, static_cast<int64_t>(open.size()) - 1)]];
    emit(c.acc.customer_id, make_refund(c, s, tick()));
  }

  // A sale and its refund where the refund reaches the ledger first (out of order): the
  // ledger keeps it waiting and applies it when the sale arrives.
  void sale_with_early_refund(Customer& c) {
    const int64_t t_sale = tick();
    v1::PosEvent s = make_sale(c, t_sale);
    if (c.sales.back().amount == 0) {
      emit(c.acc.customer_id, s);
      return;
    }
    v1::PosEvent r = make_refund(c, c.sales.back(), tick());
    emit(c.acc.customer_id, r);
    emit(c.acc.customer_id, s);
    ++w_.counts["refunds before their sale"];
  }

  void return_without_receipt(Customer& c) {
    const int64_t amount = rng_.uniform(100, 8000);
    const bool to_account = rng_.chance(0.5);
    const std::string id = next_id();
    v1::PosEvent ev = header(c, id, tick());
    v1::Refund* r = ev.mutable_refund();
    set_money(r->mutable_amount(), amount, c.acc.currency);
    r->set_method(to_account ? v1::TENDER_METHOD_ON_ACCOUNT : v1::TENDER_METHOD_CASH);
    r->set_reason("no receipt");
    c.acc.refunds += amount;
    if (to_account) {
      const int64_t allocated = allocate(c, amount, "", /*only_named=*/false);
      c.acc.receivable -= allocated;
      c.acc.credit += amount - allocated;
    }
    posted(c, id);
    ++w_.counts["returns without receipt"];
    emit(c.acc.customer_id, ev);
  }

  void payment(Customer& c) {
    const int64_t amount = c.acc.receivable > 0 ? rng_.uniform(std::max<int64_t>(1, c.acc.receivable / 2),
                                                               c.acc.receivable + c.acc.receivable / 5 + 1)
                                                : rng_.uniform(100, 5000);
    std::string named;
    if (rng_.chance(0.25)) {
      std::vector<size_t> open;
      for (size_t i = 0; i < c.invoices.size(); ++i) {
        if (c.invoices[i].open > 0) open.push_back(i);
      }
      if (!open.empty()) named = c.invoices[open[rng_.uniform(0, static_cast<int64_t>(open.size()) - 1)]].sale_id;
    }
    const double m = rng_.unit();
    const std::string id = next_id();
    v1::PosEvent ev = header(c, id, tick());
    v1::Payment* p = ev.mutable_payment();
    set_money(p->mutable_amount(), amount, c.acc.currency);
    p->set_method(m < 0.3 ? v1::TENDER_METHOD_CASH : (m < 0.7 ? v1::TENDER_METHOD_CARD : v1::TENDER_METHOD_TRANSFER));
    p->set_invoice_event_id(named);
    const int64_t allocated = allocate(c, amount, named, /*only_named=*/!named.empty());
    c.acc.payments += amount;
    c.acc.receivable -= allocated;
    c.acc.credit += amount - allocated;
    posted(c, id);
    ++w_.counts[named.empty() ? "payments (oldest first)" : "payments naming an invoice"];
    emit(c.acc.customer_id, ev);
  }

  void feedback(Customer& c) {
    v1::PosEvent ev = header(c, next_id(), tick());
    ev.mutable_feedback()->set_score(static_cast<int32_t>(rng_.uniform(0, 10)));
    c.acc.feedback_count += 1;
    c.exists = true;
    ++w_.counts["feedback"];
    emit(c.acc.customer_id, ev);
  }

  // Records the ledger must reject, each once; customers "ghost-*" appear nowhere else.
  void invalid() {
    const int kind = static_cast<int>(rng_.uniform(0, 7));
    const std::string n = std::to_string(++bad_);
    Customer ghost;
    ghost.acc.customer_id = "ghost-" + n;
    ghost.acc.currency = "USD";
    std::string key = ghost.acc.customer_id;
    v1::PosEvent ev = header(ghost, "bad-" + n, tick());
    std::string value;
    switch (kind) {
      case 0: {  // unknown currency
        set_money(ev.mutable_sale()->mutable_total(), 1000, "XQX");
        break;
      }
      case 1: {  // refund above what remains of a real sale of a real customer
        Customer* owner = nullptr;
        SaleRef* s = nullptr;
        for (int tries = 0; tries < 50 && s == nullptr; ++tries) {
          Customer& c = customers_[rng_.uniform(1, cfg_.customers)];
          for (auto& sr : c.sales) {
            if (sr.amount > 0) {
              owner = &c;
              s = &sr;
              break;
            }
          }
        }
        if (s == nullptr) {
          set_money(ev.mutable_sale()->mutable_total(), 1000, "XQX");
          break;
        }
        ev = header(*owner, "bad-" + n, tick());
        key = owner->acc.customer_id;
        ev.mutable_refund()->set_original_event_id(s->id);
        set_money(ev.mutable_refund()->mutable_amount(), s->amount - s->refunded + rng_.uniform(1, 500),
                  owner->acc.currency);
        ev.mutable_refund()->set_method(v1::TENDER_METHOD_CASH);
        break;
      }
      case 2: {  // not a PosEvent at all: wire type 7 does not exist
        value = "\x0f" + std::string("garbage-") + n;
        break;
      }
      case 3: {  // payment by a customer the ledger never saw
        set_money(ev.mutable_payment()->mutable_amount(), 2500, "USD");
        ev.mutable_payment()->set_method(v1::TENDER_METHOD_CASH);
        break;
      }
      case 4: {  // negative total
        set_money(ev.mutable_sale()->mutable_total(), -500, "USD");
        break;
      }
      case 5: {  // record key is not the event's customer
        key = ghost.acc.customer_id + "-key";
        w_.unknown_customers.push_back(key);
        set_money(ev.mutable_sale()->mutable_total(), 700, "USD");
        break;
      }
      case 6: {  // feedback score out of range
        ev.mutable_feedback()->set_score(11);
        break;
      }
      default: {  // tenders do not sum to the total
        v1::Sale* s = ev.mutable_sale();
        set_money(s->mutable_total(), 1000, "USD");
        auto* t = s->add_tenders();
        t->set_method(v1::TENDER_METHOD_CARD);
        set_money(t->mutable_amount(), 900, "USD");
        break;
      }
    }
    if (value.empty()) value = ev.SerializeAsString();
    if (key == ghost.acc.customer_id || kind == 5) w_.unknown_customers.push_back(ghost.acc.customer_id);
    w_.records.push_back({key, value, StreamRecord::Kind::invalid});
    ++w_.counts["invalid"];
  }

  const WorkloadConfig& cfg_;
  Rng rng_;
  Workload w_;
  std::vector<Customer> customers_;  // [1..customers]
  std::vector<size_t> valid_;        // indices of valid records (what duplicates copy)
  int64_t now_ = kStart;
  int64_t n_ = 0, bad_ = 0;
};

}  // namespace

Workload make_workload(const WorkloadConfig& config) {
  if (config.customers < 1 || config.records < 1) throw std::invalid_argument("make_workload: empty workload");
  return Builder(config).build();
}

}  // namespace tierflow::ledger_test
