#include "posting_rules.h"

#include <algorithm>

#include "common/money/money.h"
#include "common/time/time.h"

#include "state.h"
#include "text.h"
#include "wire.h"

namespace tierflow::ledger::rules {
namespace {

std::string_view tender_account(v1::TenderMethod m) {
  switch (m) {
    case v1::TENDER_METHOD_CARD:
      return kCard;
    case v1::TENDER_METHOD_TRANSFER:
      return kBank;
    case v1::TENDER_METHOD_ON_ACCOUNT:
      return kReceivable;
    default:
      return kCash;  // UNSPECIFIED and CASH
  }
}

std::optional<std::string> check_currency(std::string_view code) {
  if (code.empty()) return "missing currency";
  if (!money::is_known_currency(code)) {
    return cat("unknown currency '", code, "' (not an accepted ISO 4217 code)");
  }
  return std::nullopt;
}

// Nested amounts may leave the currency empty: it then is the event's.
bool same_currency(const v1::Money& m, std::string_view currency) {
  return m.currency().empty() || m.currency() == currency;
}

std::string other_currency(std::string_view cur, const CustomerState& st) {
  return cat("currency ", cur, " differs from the account's currency ", st.currency);
}

// `v += delta` unless it overflows; false then (and `v` unchanged).
bool add(int64_t& v, int64_t delta) {
  const auto sum = money::checked_add(v, delta);
  if (sum) v = *sum;
  return sum.has_value();
}

Totals totals_of(const CustomerState& st) {
  return {st.receivable,      st.credit,           st.lifetime_sales, st.lifetime_refunds, st.lifetime_gross_profit,
          st.lifetime_orders, st.lifetime_payments};
}

MonthTotals month_of(const CustomerState& st, int32_t key) {
  auto it = st.months.find(key);
  return it == st.months.end() ? MonthTotals{} : it->second;
}

void store_month(CustomerState& st, int32_t key, const MonthTotals& m) {
  st.months[key] = m;
  while (st.months.size() > static_cast<size_t>(kMonthsKept)) st.months.erase(st.months.begin());
}

// Splits `amount` over open invoices: the named one first, then (unless only_named) the
// oldest by due date. Returns (invoice index, amount) pairs; changes nothing.
Allocation allocate(const CustomerState& st, int64_t amount, std::string_view named, bool only_named) {
  std::vector<size_t> order;
  for (size_t i = 0; i < st.invoices.size(); ++i) {
    if (st.invoices[i].open > 0) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Invoice& x = st.invoices[a];
    const Invoice& y = st.invoices[b];
    bool xn = x.sale_event_id == named, yn = y.sale_event_id == named;
    if (xn != yn) return xn;
    if (x.due != y.due) return x.due < y.due;
    return x.issued < y.issued;
  });
  Allocation out;
  for (size_t i : order) {
    if (amount == 0) break;
    if (only_named && st.invoices[i].sale_event_id != named) break;
    int64_t take = std::min(amount, st.invoices[i].open);
    out.emplace_back(i, take);
    amount -= take;
  }
  return out;
}

}  // namespace

const CustomerState& new_customer() {
  static const CustomerState empty;
  return empty;
}

std::optional<std::string> check_header(const v1::PosEvent& ev, std::string_view record_key, bool released) {
  if (ev.event_id().empty()) return "missing event_id";
  if (ev.customer_id().empty()) return "missing customer_id";
  if (!ev.has_event_time()) return "missing event_time";
  if (!timeutil::valid(ev.event_time())) return "event_time out of range";
  if (ev.body_case() == v1::PosEvent::BODY_NOT_SET) {
    return "event has no body (sale, refund, payment or feedback)";
  }
  if (!released && !record_key.empty() && record_key != ev.customer_id()) {
    return cat("record key '", record_key, "' differs from customer_id '", ev.customer_id(), "'");
  }
  return std::nullopt;
}

// --- sales -------------------------------------------------------------------------------

Outcome check_sale(const v1::Sale& s, SaleAmounts& out) {
  const std::string& cur = s.total().currency();
  if (auto bad = check_currency(cur)) return Outcome::reject(*bad);
  const int64_t total = s.total().minor_units();
  if (total < 0) return Outcome::reject("negative amount: sale total " + money::format(total, cur));

  int64_t line_sum = 0, line_cost = 0;
  bool any_line_cost = false;
  for (const auto& line : s.lines()) {
    if (!same_currency(line.amount(), cur) || !same_currency(line.cost(), cur)) {
      return Outcome::reject(cat("line ", line.sku(), " is not in the sale's currency ", cur));
    }
    if (line.quantity() < 0) return Outcome::reject("negative quantity on line " + line.sku());
    if (line.amount().minor_units() < 0 || line.cost().minor_units() < 0) {
      return Outcome::reject("negative amount on line " + line.sku());
    }
    if (!add(line_sum, line.amount().minor_units())) {
      return Outcome::reject("line amounts overflow a 64-bit amount");
    }
    if (line.has_cost()) {
      any_line_cost = true;
      if (!add(line_cost, line.cost().minor_units())) {
        return Outcome::reject("line costs overflow a 64-bit amount");
      }
    }
  }
  if (s.lines_size() > 0 && line_sum != total) {
    return Outcome::reject(
        cat("lines sum to ", money::format(line_sum, cur), " but the total is ", money::format(total, cur)));
  }

  int64_t cash = 0, card = 0, bank = 0, on_account = 0, tender_sum = 0;
  if (s.tenders_size() == 0) cash = total;
  for (const auto& tender : s.tenders()) {
    if (!same_currency(tender.amount(), cur)) {
      return Outcome::reject("tender is not in the sale's currency " + cur);
    }
    const int64_t a = tender.amount().minor_units();
    if (a < 0) return Outcome::reject("negative amount: tender " + money::format(a, cur));
    int64_t* bucket = &cash;
    switch (tender.method()) {
      case v1::TENDER_METHOD_CARD:
        bucket = &card;
        break;
      case v1::TENDER_METHOD_TRANSFER:
        bucket = &bank;
        break;
      case v1::TENDER_METHOD_ON_ACCOUNT:
        bucket = &on_account;
        break;
      default:
        break;
    }
    if (!add(*bucket, a) || !add(tender_sum, a)) {
      return Outcome::reject("tender amounts overflow a 64-bit amount");
    }
  }
  if (s.tenders_size() > 0 && tender_sum != total) {
    return Outcome::reject(
        cat("tenders sum to ", money::format(tender_sum, cur), " but the total is ", money::format(total, cur)));
  }
  if (s.payment_terms_days() < 0 || s.payment_terms_days() > kMaxTermsDays) {
    return Outcome::reject(cat("payment_terms_days ", s.payment_terms_days(), " outside 0-", kMaxTermsDays));
  }
  int64_t cost = -1;
  if (s.has_cost()) {
    if (!same_currency(s.cost(), cur)) return Outcome::reject("cost is not in the sale's currency " + cur);
    if (s.cost().minor_units() < 0) return Outcome::reject("negative amount: sale cost");
    cost = s.cost().minor_units();
  } else if (any_line_cost) {
    cost = line_cost;
  }
  int64_t profit = total;
  if (cost >= 0 && __builtin_sub_overflow(total, cost, &profit)) {
    return Outcome::reject("gross profit overflows a 64-bit amount");
  }
  out = {total, cash, card, bank, on_account, cost, profit};
  return Outcome::ok();
}

Outcome post_sale(const v1::PosEvent& ev, Micros t, const SaleAmounts& a, const CustomerState& st, Posting& out) {
  const v1::Sale& s = ev.sale();
  const std::string& cur = s.total().currency();
  if (!st.currency.empty() && st.currency != cur) return Outcome::reject(other_currency(cur, st));
  out.kind = "sale";
  out.currency = cur;
  out.amount = a.total;
  out.cost = a.cost;
  out.month_key = month_key(t);
  out.month = month_of(st, *out.month_key);
  out.totals = totals_of(st);
  Totals& n = out.totals;
  MonthTotals& m = out.month;
  // Every addition is made (no short cut), so the check does not depend on their order.
  const bool fits = add(n.sales, a.total) & add(n.gross_profit, a.profit) & add(n.orders, 1) &
                    add(n.receivable, a.on_account) & add(m.sales, a.total) & add(m.gross_profit, a.profit) &
                    add(m.orders, 1);
  out.lines = {{kCash, a.cash, 0},
               {kCard, a.card, 0},
               {kBank, a.bank, 0},
               {kReceivable, a.on_account, 0},
               {kRevenue, 0, a.total}};
  out.receivable_delta = a.on_account;
  if (!fits) return Outcome::reject(overflow_reason(out));
  out.invoice_amount = a.on_account;
  out.invoice_due = t + s.payment_terms_days() * kDay;
  return Outcome::ok();
}

// --- refunds -----------------------------------------------------------------------------

Outcome check_refund(const v1::Refund& r) {
  const std::string& cur = r.amount().currency();
  if (auto bad = check_currency(cur)) return Outcome::reject(*bad);
  const int64_t amount = r.amount().minor_units();
  if (amount < 0) return Outcome::reject("negative amount: refund " + money::format(amount, cur));
  return Outcome::ok();
}

Outcome check_refunded_sale(const v1::PosEvent& ev, const EventRow* sale, int64_t& margin) {
  const v1::Refund& r = ev.refund();
  const std::string& cur = r.amount().currency();
  const int64_t amount = r.amount().minor_units();
  const std::string& orig = r.original_event_id();
  margin = amount;
  if (sale == nullptr) return Outcome::defer(orig);
  if (sale->kind != EventKind::sale) return Outcome::reject(cat("refund names ", orig, ", which is not a sale"));
  if (sale->customer_id != ev.customer_id()) {
    return Outcome::reject(cat("sale ", orig, " belongs to another customer"));
  }
  if (sale->currency != cur) return Outcome::reject(cat("refund in ", cur, " of sale ", orig, " in ", sale->currency));
  const int64_t remaining = sale->amount - sale->refunded;
  if (amount > remaining) {
    return Outcome::reject(cat("refund ", money::format(amount, cur), " above the ", money::format(remaining, cur),
                               " that remains refundable on sale ", orig));
  }
  if (sale->cost >= 0 && sale->amount > 0) {
    // The refunded share of the sale's margin; |result| <= |total - cost| fits int64.
    __int128 m = static_cast<__int128>(amount) * (static_cast<__int128>(sale->amount) - sale->cost) / sale->amount;
    margin = static_cast<int64_t>(m);
  }
  return Outcome::ok();
}

Outcome post_refund(const v1::PosEvent& ev, Micros t, int64_t margin, const CustomerState& st, Posting& out) {
  const v1::Refund& r = ev.refund();
  const std::string& cur = r.amount().currency();
  const int64_t amount = r.amount().minor_units();
  if (!st.currency.empty() && st.currency != cur) return Outcome::reject(other_currency(cur, st));
  out.kind = "refund";
  out.currency = cur;
  out.amount = amount;
  const bool to_account = r.method() == v1::TENDER_METHOD_ON_ACCOUNT || r.method() == v1::TENDER_METHOD_UNSPECIFIED;
  int64_t allocated = 0, to_credit = 0;
  out.lines = {{kRefunds, amount, 0}};
  if (to_account) {
    out.settled = allocate(st, amount, r.original_event_id(), /*only_named=*/false);
    for (const auto& a : out.settled) allocated += a.second;
    to_credit = amount - allocated;
    out.lines.push_back({kReceivable, 0, allocated});
    out.lines.push_back({kCustomerCredit, 0, to_credit});
  } else {
    out.lines.push_back({tender_account(r.method()), 0, amount});
  }
  out.settled_by_payment = false;
  out.receivable_delta = -allocated;
  out.month_key = month_key(t);
  out.month = month_of(st, *out.month_key);
  out.totals = totals_of(st);
  Totals& n = out.totals;
  MonthTotals& m = out.month;
  const bool fits = add(n.refunds, amount) & add(n.gross_profit, -margin) & add(n.receivable, -allocated) &
                    add(n.credit, to_credit) & add(m.refunds, amount) & add(m.refund_count, 1) &
                    add(m.gross_profit, -margin);
  if (!fits) return Outcome::reject(overflow_reason(out));
  return Outcome::ok();
}

// --- payments ----------------------------------------------------------------------------

Outcome check_payment(const v1::Payment& p) {
  const std::string& cur = p.amount().currency();
  if (auto bad = check_currency(cur)) return Outcome::reject(*bad);
  const int64_t amount = p.amount().minor_units();
  if (amount <= 0) return Outcome::reject("payment amount must be positive, got " + money::format(amount, cur));
  if (p.method() == v1::TENDER_METHOD_ON_ACCOUNT) {
    return Outcome::reject("payment method ON_ACCOUNT cannot settle an account");
  }
  return Outcome::ok();
}

bool holds_invoice(const CustomerState* st, std::string_view sale_id) {
  return st != nullptr && std::any_of(st->invoices.begin(), st->invoices.end(),
                                      [&](const Invoice& i) { return i.sale_event_id == sale_id; });
}

Outcome check_named_invoice(const v1::PosEvent& ev, const EventRow* sale) {
  const std::string& named = ev.payment().invoice_event_id();
  if (sale == nullptr) return Outcome::defer(named);
  if (sale->kind != EventKind::sale) return Outcome::reject(cat("payment names ", named, ", which is not a sale"));
  if (sale->customer_id != ev.customer_id()) {
    return Outcome::reject(cat("invoice ", named, " belongs to another customer"));
  }
  return Outcome::ok();
}

Outcome post_payment(const v1::PosEvent& ev, Micros /*t*/, const CustomerState* st, Posting& out) {
  const v1::Payment& p = ev.payment();
  const std::string& cur = p.amount().currency();
  const int64_t amount = p.amount().minor_units();
  if (st == nullptr || st->currency.empty()) {
    return Outcome::reject(cat("payment for unknown customer ", ev.customer_id(), " (no sale yet)"));
  }
  if (st->currency != cur) return Outcome::reject(other_currency(cur, *st));
  const std::string& named = p.invoice_event_id();
  out.kind = "payment";
  out.currency = cur;
  out.amount = amount;
  out.settled = allocate(*st, amount, named, /*only_named=*/!named.empty());
  out.settled_by_payment = true;
  int64_t allocated = 0;
  for (const auto& a : out.settled) allocated += a.second;
  const int64_t to_credit = amount - allocated;
  out.lines = {{tender_account(p.method()), amount, 0}, {kReceivable, 0, allocated}, {kCustomerCredit, 0, to_credit}};
  out.receivable_delta = -allocated;
  out.totals = totals_of(*st);
  Totals& n = out.totals;
  const bool fits = add(n.payments, amount) & add(n.receivable, -allocated) & add(n.credit, to_credit);
  if (!fits) return Outcome::reject(overflow_reason(out));
  return Outcome::ok();
}

// --- feedback ----------------------------------------------------------------------------

Outcome check_feedback(const v1::Feedback& f) {
  const int32_t score = f.score();
  if (score < 0 || score > 10) return Outcome::reject(cat("feedback score ", score, " outside 0-10"));
  return Outcome::ok();
}

void apply_feedback(const v1::Feedback& f, Micros t, CustomerState& c) {
  const int32_t score = f.score();
  ++c.feedback_count;
  c.feedback_score_sum += score;
  if (score >= 9) {
    ++c.promoters;
  } else if (score >= 7) {
    ++c.passives;
  } else {
    ++c.detractors;
  }
  if (!c.feedback_last || t > *c.feedback_last) c.feedback_last = t;
}

// --- applying ----------------------------------------------------------------------------

std::string overflow_reason(const Posting& p) {
  return cat(p.kind, " of ", money::format(p.amount, p.currency), " overflows the account's 64-bit totals");
}

void apply_posting(const Posting& p, const v1::PosEvent& ev, Micros t, CustomerState& c) {
  const Totals& n = p.totals;
  c.receivable = n.receivable;
  c.credit = n.credit;
  c.lifetime_sales = n.sales;
  c.lifetime_refunds = n.refunds;
  c.lifetime_gross_profit = n.gross_profit;
  c.lifetime_orders = n.orders;
  c.lifetime_payments = n.payments;
  if (c.currency.empty()) c.currency = p.currency;
  if (p.month_key) store_month(c, *p.month_key, p.month);
  if (p.kind == "sale") {
    if (!c.first_purchase || t < *c.first_purchase) c.first_purchase = t;
    if (!c.last_purchase || t > *c.last_purchase) c.last_purchase = t;
  }
  if (p.invoice_amount > 0) {
    Invoice inv;
    inv.sale_event_id = ev.event_id();
    inv.issued = t;
    inv.due = p.invoice_due;
    inv.amount = p.invoice_amount;
    inv.open = p.invoice_amount;
    inv.dirty = true;
    c.invoices.push_back(std::move(inv));
  }
  for (const auto& [i, take] : p.settled) {
    Invoice& inv = c.invoices[i];
    inv.open -= take;
    inv.dirty = true;
    if (inv.open == 0) {
      inv.closed = t;
      inv.closed_by_payment = p.settled_by_payment;
    }
  }
}

std::string journal_entry(const v1::PosEvent& ev, const Posting& p, Micros t, int64_t receivable) {
  std::string entry;
  entry.reserve(64 + ev.event_id().size() + ev.customer_id().size() + 32 * p.lines.size());
  wire::string_field(entry, 1, ev.event_id());
  wire::string_field(entry, 2, ev.customer_id());
  wire::string_field(entry, 3, p.kind);
  wire::timestamp_field(entry, 4, t);
  wire::string_field(entry, 5, p.currency);
  for (const auto& l : p.lines) {
    if (l.debit == 0 && l.credit == 0) continue;
    size_t len = 1 + wire::varint_size(l.account.size()) + l.account.size();
    if (l.debit != 0) len += 1 + wire::varint_size(static_cast<uint64_t>(l.debit));
    if (l.credit != 0) len += 1 + wire::varint_size(static_cast<uint64_t>(l.credit));
    wire::tag(entry, 6, 2);
    wire::varint(entry, len);
    wire::string_field(entry, 1, l.account);
    wire::int64_field(entry, 2, l.debit);
    wire::int64_field(entry, 3, l.credit);
  }
  wire::int64_field(entry, 7, receivable);
  return entry;
}

std::string never_arrived(std::string_view waiting_for, Micros before, std::string_view window_text) {
  return window_text.empty() ? cat("sale ", waiting_for, " never arrived before ", format_time(before))
                             : cat("sale ", waiting_for, " never arrived within ", window_text);
}

}  // namespace tierflow::ledger::rules
